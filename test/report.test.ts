// nsa-bench report (issue #19): the data shaping (floors, peer ratios, matching cases across runs,
// roofline points) and the generated page opened in headless Chromium: every chart drawn, no console
// errors, a screenshot kept (NSA_ARTIFACTS, default the OS temp folder). Host-only: the unit project.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkInBrowser, chromiumAvailable } from '../benchmarks/report/browser';
import { compareRuns, flopsOf, floorUs, parseBench, parsePeers, peerOf, peerRatios, rooflinePoints, type BenchFile } from '../benchmarks/report/data';
import { renderReport } from '../benchmarks/report/html';
import { ON_GPU } from './helpers';

const bench = (us: number[], date: string): BenchFile => ({
  date,
  device: 'cuda:0',
  copyGBps: 3000,
  results: [
    { suite: 'topk', case: 'k=2048 64x8192', device: 'cuda:0', us: us[0], bytes: 3e6 },
    { suite: 'mqa-logits', case: 'B=64 ctx=8192 preshuffle p64', device: 'cuda:0', us: us[1], bytes: 69e6 },
    { suite: 'dispatcher', case: 'planAttention decode 64 reqs', device: 'cpu', us: us[2] },
  ],
});

(ON_GPU ? describe.skip : describe)('nsa-bench report', () => {
  test('floors, peer ratios, before/after matching, roofline points', () => {
    const b = bench([8, 30, 0.2], 'a');
    expect(floorUs(b.results[0], b.copyGBps)).toBeCloseTo(1.0, 6); // 3e6 bytes / 3000 GB/s
    expect(floorUs(b.results[2], b.copyGBps)).toBeUndefined();
    const peers = parsePeers(JSON.stringify([{ op: 'topk', case: 'k=2048 64x8192', us: 4, source: 'peer' }]));
    const ratios = peerRatios(b.results, peers);
    expect(peerOf(ratios, b.results[0])?.ratio).toBe(2);
    expect(peerOf(ratios, b.results[1])).toBeUndefined();
    const after = bench([6, 33, 0.2], 'b');
    after.results.push({ suite: 'topk', case: 'only in the second run', device: 'cuda:0', us: 1 });
    const changes = compareRuns(b, after);
    expect(changes.map((c) => c.case)).toEqual(['k=2048 64x8192', 'B=64 ctx=8192 preshuffle p64', 'planAttention decode 64 reqs']);
    expect(changes[0].change).toBeCloseTo(-0.25, 9);
    expect(flopsOf(b.results[1])).toBe(2 * 64 * 8192 * 64 * 128);
    expect(flopsOf(b.results[0])).toBeUndefined();
    const pts = rooflinePoints(b.results);
    expect(pts).toHaveLength(1);
    expect(pts[0].tflops).toBeCloseTo((2 * 64 * 8192 * 64 * 128) / 30 / 1e6, 6);
    expect(() => parseBench('{"results": 5}')).toThrow(/not an nsa-bench --json file/);
    expect(() => parsePeers('[{"op": "topk"}]')).toThrow(/peers file\[0\]/);
  });

  test('the page is self-contained and holds every chart', () => {
    const html = renderReport([bench([8, 30, 0.2], 'a'), bench([6, 33, 0.2], 'b')]);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/); // nothing fetched at view time
    expect(html).toContain('Before / after');
    expect(html).toContain('Roofline');
    expect((html.match(/<canvas/g) ?? []).length).toBe(3 + 2); // three suites, roofline, comparison
  });

  const browser = chromiumAvailable() || process.env.CI === 'true' ? test : test.skip;
  browser('rendered in headless Chromium: every chart drawn, no console errors (screenshot kept)', async () => {
    const dir = process.env.NSA_ARTIFACTS ?? os.tmpdir();
    fs.mkdirSync(dir, { recursive: true });
    const latest = path.join(__dirname, '..', 'benchmarks', 'results', 'h100-latest.json');
    const files = [bench([8, 30, 0.2], 'a'), parseBench(fs.readFileSync(latest, 'utf8'))];
    const htmlFile = path.join(dir, 'nsa-report.html');
    fs.writeFileSync(htmlFile, renderReport(files));
    const r = await checkInBrowser(htmlFile, path.join(dir, 'nsa-report.png'));
    expect(r.errors).toEqual([]);
    expect(r.charts).toBeGreaterThan(3);
    expect(r.drawn).toBe(r.charts);
  });
});
