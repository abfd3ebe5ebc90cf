// Screenshot a URL: node dev/shot.mjs URL OUT.png [width height] [--wait-ms N] [--keys F10,F11]
import { launch } from '../shared/browser.mjs';

const [url, out, w = '1600', h = '900'] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const waitArg = process.argv.indexOf('--wait-ms');
const wait = waitArg > 0 ? Number(process.argv[waitArg + 1]) : 1500;
const browser = await launch();
const page = await browser.newPage({ viewport: { width: Number(w), height: Number(h) } });
page.on('console', (m) => console.log('console:', m.type(), m.text()));
page.on('pageerror', (e) => console.log('pageerror:', e.message));
await page.goto(url);
await page.waitForTimeout(wait);
const keysArg = process.argv.indexOf('--keys');
if (keysArg > 0) for (const k of process.argv[keysArg + 1].split(',')) { await page.keyboard.press(k); await page.waitForTimeout(400); }
await page.screenshot({ path: out });
await browser.close();
