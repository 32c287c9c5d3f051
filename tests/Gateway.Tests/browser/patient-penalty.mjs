// The web page when keys are being guessed (BrowserPenaltyTests): the gateway's budget of failed
// lookups is spent, so a patient who mistypes the key is told the wait in minutes.
//   node patient-penalty.mjs <http base> <code> <access key>
// Steps: enter the code with a wrong key and see "wrong key" (WRONG); enter the right key and see
// the wait (WAIT). Exit 0 when both held.
import { chromium } from "playwright-core";

const [base, code, accessKey] = process.argv.slice(2);
const say = (text) => process.stdout.write(`${text}\n`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ locale: "ru-RU", viewport: { width: 390, height: 844 } });
  page.setDefaultTimeout(15000);
  await page.goto(base);

  await page.getByLabel("Код госпитализации").fill(code);
  await page.getByLabel("Ключ доступа").fill("AAAAA-AAAAA");
  await page.getByLabel("Ключ доступа").press("Enter");
  await page.waitForSelector("#check-error:not([hidden])");
  say(`WRONG ${await page.textContent("#check-error")}`);

  await page.getByLabel("Ключ доступа").fill(accessKey);
  await page.getByLabel("Ключ доступа").press("Enter");
  await page.waitForFunction(() => !document.querySelector("#check-error").hidden && document.querySelector("#check-error").textContent.includes("мин"));
  if (!(await page.locator("#result").isHidden())) throw new Error("the status shows while the address waits");
  say(`WAIT ${await page.textContent("#check-error")}`);
} finally {
  await browser.close();
}
