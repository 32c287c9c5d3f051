// Drives the gateway's web page in headless Chromium, in step with the xunit test that started
// it (BrowserPageTests): one line per step on stdout, the test's go-ahead on stdin.
//   node patient-page.mjs <http base> <code> <access key> <board profile> <stale hospital name>
// Steps: enter code and key, see the status (READY); wait for CHANGED (the test scheduled the
// referral over gRPC); see the page update by itself (UPDATED); switch language; read the
// free-beds board for the profile and find the stale hospital marked (BOARD); cancel the referral:
// open the action, pick "Another reason", be stopped for want of its text, write it, confirm, and
// see the status cancelled and the action gone (CANCELLED). Exit 0 when all held.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const [base, code, accessKey, boardProfile, staleHospital] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));
const say = (text) => process.stdout.write(`${text}\n`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  // A fresh temporary profile is Playwright's own doing.
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ locale: "ru-RU", viewport: { width: 390, height: 844 } }); // a phone
  page.setDefaultTimeout(15000);
  await page.goto(base);
  if ((await page.getAttribute("html", "lang")) !== "ru") throw new Error("the page does not say its language");

  // Labels name the fields: that is how a screen reader (and this test) finds them.
  await page.getByLabel("Код госпитализации").fill(code);
  await page.getByLabel("Ключ доступа").fill(accessKey);
  await page.getByLabel("Ключ доступа").press("Enter"); // the keyboard submits
  await page.waitForSelector('#status-value[data-status="REFERRAL_STATUS_REGISTERED"]');
  await page.waitForSelector('#live-state[data-state="on"]');
  say(`READY ${await page.textContent("#status-value")} | ${await page.textContent("#queue-position")}`);

  if ((await nextLine()) !== "CHANGED") throw new Error("expected CHANGED");
  await page.waitForSelector('#status-value[data-status="REFERRAL_STATUS_SCHEDULED"]');
  await page.waitForSelector('#history li[data-action="SCHEDULED"]');
  say(`UPDATED ${await page.textContent("#status-value")} | ${(await page.textContent("#history")).replace(/\s+/g, " ")}`);

  await page.getByRole("button", { name: "English" }).click();
  if ((await page.getAttribute("html", "lang")) !== "en") throw new Error("switching to English did not set lang=en");
  await page.waitForSelector('#status-value:text("Date confirmed")');

  await page.getByLabel("Bed profile").selectOption(boardProfile);
  await page.getByRole("button", { name: "Show" }).click();
  await page.waitForSelector("#beds-body tr");
  const heading = await page.textContent("#beds-heading");
  const staleRow = page.locator("#beds-body tr", { hasText: staleHospital });
  if ((await staleRow.count()) !== 1) throw new Error(`${staleHospital} is not on the board`);
  if ((await staleRow.getAttribute("data-stale")) !== "true" || !(await staleRow.textContent()).includes("stale")) {
    throw new Error(`${staleHospital}'s old count is not marked stale`);
  }
  const rows = await page.locator("#beds-body tr").count();
  const fresh = await page.locator('#beds-body tr:not([data-stale="true"])').count();
  say(`BOARD ${heading} | rows=${rows} fresh=${fresh}`);

  await page.getByRole("button", { name: "Cancel the referral" }).click();
  await page.getByLabel("Reason", { exact: true }).selectOption("CANCELLATION_REASON_OTHER");
  await page.getByRole("button", { name: "Yes, cancel it" }).click();
  await page.waitForSelector("#cancel-error:not([hidden])");
  if ((await page.getAttribute("#status-value", "data-status")) !== "REFERRAL_STATUS_SCHEDULED") throw new Error("cancelled without the reason's text");
  await page.getByLabel("Describe the reason", { exact: true }).fill("Treated at home");
  await page.getByRole("button", { name: "Yes, cancel it" }).click();
  await page.waitForSelector('#status-value[data-status="REFERRAL_STATUS_CANCELLED"]');
  await page.waitForSelector('#history li[data-action="CANCELLED"]');
  if (await page.locator("#cancel").isVisible()) throw new Error("a cancelled referral still offers to cancel it");
  say(`CANCELLED ${await page.textContent("#status-value")} | ${(await page.textContent("#history")).replace(/\s+/g, " ")}`);
} finally {
  await browser.close();
  lines.close();
}
