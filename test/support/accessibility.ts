// Accessibility checks for the browser tests: axe-core's WCAG 2.1 A and AA
// rules on the page as it is, and keyboard-only navigation with visible focus.
import fs from 'node:fs';
import type { Page } from 'playwright-core';

const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const WCAG_21_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

interface AxeResults {
  violations: { id: string; impact: string; help: string; nodes: { target: string[]; failureSummary: string }[] }[];
  passes: unknown[];
}

/** What axe-core finds against WCAG 2.1 A/AA on the page as it is now, one line per element; empty when nothing. */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol: the pages' policy (no script) stays as it is for the audit.
  if (!(await page.evaluate('typeof axe !== "undefined"'))) await page.evaluate(AXE_SOURCE);
  const results = (await page.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ${JSON.stringify(WCAG_21_AA)} } })`)) as AxeResults;
  if (results.passes.length === 0) throw new Error('axe-core checked nothing');
  return results.violations.flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}): ${v.help} at ${n.target.join(' ')}: ${n.failureSummary}`));
}

/** Fails with axe-core's findings, naming the page, when there are any. */
export async function expectAccessible(page: Page): Promise<void> {
  const title = await page.title();
  expect({ page: title, violations: await accessibilityViolations(page) }).toEqual({ page: title, violations: [] });
}

/** The page has the heading `h1` and passes the audit. */
export async function expectPage(page: Page, h1: string): Promise<void> {
  expect(await page.textContent('h1')).toBe(h1);
  await expectAccessible(page);
}

/** The focused element's outline: what `:focus-visible` draws. */
async function focusOutline(page: Page): Promise<{ style: string; width: number }> {
  return page.evaluate(`(() => { const s = getComputedStyle(document.activeElement); return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) }; })()`);
}

/**
 * Presses Tab (Shift+Tab with `backwards`) until the element `selector`
 * has the focus, and checks the focus is visible there; fails when the
 * element is not in the tab order.
 */
export async function tabTo(page: Page, selector: string, options: { backwards?: boolean } = {}): Promise<void> {
  const key = options.backwards ? 'Shift+Tab' : 'Tab';
  for (let presses = 0; presses < 40; presses++) {
    await page.keyboard.press(key);
    if (await page.evaluate(`document.activeElement !== null && document.activeElement.matches(${JSON.stringify(selector)})`)) {
      const outline = await focusOutline(page);
      if (outline.style === 'none' || outline.width < 2) throw new Error(`The focus on ${selector} is not visible (outline: ${outline.style} ${outline.width}px)`);
      return;
    }
  }
  throw new Error(`${selector} cannot be reached with ${key} on "${await page.title()}"`);
}

/** Tabs to the field and types into it, as a person at a keyboard does. */
export async function typeInto(page: Page, selector: string, text: string, options: { backwards?: boolean } = {}): Promise<void> {
  await tabTo(page, selector, options);
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.type(text);
}

/** Presses `key` on the focused element and waits for the page it leads to. */
export async function pressAndWait(page: Page, key: 'Enter' | 'Space'): Promise<void> {
  await Promise.all([page.waitForNavigation(), page.keyboard.press(key)]);
}

/** Tabs to the link or button `selector` and presses `key` on it; the page it leads to must have the heading `h1` and pass the audit. */
export async function follow(page: Page, selector: string, key: 'Enter' | 'Space', h1: string): Promise<void> {
  await tabTo(page, selector);
  await pressAndWait(page, key);
  await expectPage(page, h1);
}
