/**
 * Opens a generated report in headless Chromium (Debian's `chromium`, driven by playwright-core) and
 * checks that it rendered: every chart's canvas has drawn pixels and the page logged no errors. Used by
 * the report test and to take the README screenshot.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const CHROMIUM = process.env.NSA_CHROMIUM ?? '/usr/bin/chromium';

export function chromiumAvailable(): boolean {
  return fs.existsSync(CHROMIUM);
}

export interface RenderCheck {
  charts: number;
  /** Charts whose canvas holds at least one non-transparent pixel. */
  drawn: number;
  errors: string[];
}

export async function checkInBrowser(htmlFile: string, screenshot?: string): Promise<RenderCheck> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`file://${path.resolve(htmlFile)}`);
    await page.waitForFunction('window.reportReady === true', undefined, { timeout: 20000 });
    // (A string: this package compiles without the DOM typings.)
    const result = (await page.evaluate(`(() => {
      const canvases = Array.from(document.querySelectorAll('canvas'));
      const drawn = canvases.filter((c) => {
        const ctx = c.getContext('2d');
        if (!ctx || c.width === 0 || c.height === 0) return false;
        const px = ctx.getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) return true;
        return false;
      }).length;
      return { charts: canvases.length, drawn };
    })()`)) as { charts: number; drawn: number };
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: false });
    return { ...result, errors };
  } finally {
    await browser.close();
  }
}
