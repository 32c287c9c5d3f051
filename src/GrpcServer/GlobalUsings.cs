global using BedBureau.Wire;
