#!/usr/bin/env python3
"""report.html: opened in headless Chromium (Debian's `chromium`) it loads with no console
message (errors, uncaught exceptions, Content-Security-Policy violations), and the numbers
it shows are report.json's: totals, verdicts, hosts, relays, Tor flows, files, the bytes
chart. Also: nothing in it would fetch anything, a hostile file name is escaped, the tables
are bounded on a large report, --no-html writes none (and removes a stale one), `tortrace
report OUT` renders the same bytes again, and a failed render keeps the previous outputs.
The Chromium checks are skipped, saying so, when `chromium` is not installed; the corpus
check when ../shared/corpus is not there.
usage: test_html.py TORTRACE SAMPLE_DIR [CORPUS]"""
import clitest
import copy, html.parser, json, os, re, shutil, subprocess, sys
import unittest

TORTRACE = SAMPLE_DIR = CORPUS = None
CHROMIUM = shutil.which('chromium')

# Rows report.html shows at most (src/aggregate/html.c).
MAX_HOSTS, MAX_RELAYS, MAX_TOR, MAX_CAND, MAX_FILES = 500, 500, 1000, 200, 1000


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def text(self):
        return ''.join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self):
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.walk()


VOID = {'meta', 'br', 'input', 'link', 'img', 'hr', 'area', 'base', 'col', 'embed',
        'source', 'track', 'wbr'}


class Tree(html.parser.HTMLParser):
    """A DOM from html.parser: enough to find elements by id, tag and attribute."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.root = Node('#root', {}, None)
        self.cur = self.root
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not self.root and n.tag != tag:
            n = n.parent
        if n is not self.root:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)

    def all(self, tag=None, **attrs):
        for n in self.root.walk():
            if (tag is None or n.tag == tag) and all(n.attrs.get(k.replace('_', '-')) == v
                                                     for k, v in attrs.items()):
                yield n

    def by_id(self, i):
        found = [n for n in self.root.walk() if n.attrs.get('id') == i]
        assert len(found) == 1, 'id %s: %d elements' % (i, len(found))
        return found[0]


def num(text):
    """'1,216,894' -> 1216894"""
    return int(text.strip().replace(',', ''))


def cells(row):
    """{data-k: text} of a table row's cells (and spans inside them)."""
    return {n.attrs['data-k']: n.text() for n in row.walk() if 'data-k' in n.attrs}


def rows(tree, table_id):
    t = tree.by_id(table_id)
    return [r for r in t.walk() if r.tag == 'tr' and r.parent.tag == 'tbody']


def read_all(d):
    out = {}
    for n in os.listdir(d):
        with open(os.path.join(d, n), 'rb') as f:
            out[n] = f.read()
    return out


def chromium_dom(path, profile):
    """The DOM after load, and the console lines Chromium logged."""
    r = subprocess.run([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu',
                        '--no-first-run', '--user-data-dir=' + profile,
                        '--enable-logging=stderr', '--v=0', '--dump-dom',
                        'file://' + os.path.abspath(path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    console = [l for l in r.stderr.splitlines()
               if 'CONSOLE' in l or 'Uncaught' in l or 'Content Security Policy' in l]
    return r.stdout, console


class HtmlCase(clitest.TempDirCase):
    def analyze(self, paths, out, relays=None, extra=(), rc=0):
        cmd = [TORTRACE, 'analyze', '-q', '--no-progress', '-o', out] + list(extra)
        if relays:
            cmd += ['--relays', relays]
        r = subprocess.run(cmd + list(paths), capture_output=True, text=True)
        self.assertEqual(r.returncode, rc, r.stderr)
        return r

    def html(self, out):
        with open(os.path.join(out, 'report.html'), encoding='utf-8') as f:
            return f.read()

    def check_static(self, text):
        """Nothing in the page fetches anything: no external URL in src/href, no element
        that loads a resource, and a CSP that forbids it anyway."""
        tree = Tree(text)
        for n in tree.all():
            for k, v in n.attrs.items():
                if k in ('src', 'href', 'action', 'data', 'poster', 'srcset', 'xlink:href'):
                    self.assertFalse(re.match(r'\s*(https?:)?//', v or '', re.I),
                                     '%s %s=%r would fetch' % (n.tag, k, v))
                    if k == 'href':
                        self.assertTrue(v.startswith('#'), 'link leaves the page: %r' % v)
                    else:
                        self.fail('%s has %s=%r' % (n.tag, k, v))
            self.assertNotIn(n.tag, ('link', 'img', 'iframe', 'object', 'embed', 'base'))
        self.assertNotRegex(text, r'https?://')
        csp = [n for n in tree.all('meta') if n.attrs.get('http-equiv') ==
               'Content-Security-Policy']
        self.assertEqual(len(csp), 1)
        self.assertIn("default-src 'none'", csp[0].attrs['content'])
        self.assertEqual(len(list(tree.all('script'))), 1)
        for n in tree.all('script'):
            self.assertNotIn('src', n.attrs)

    def check_numbers(self, rep, dom):
        """Every number the page shows that report.json has, equal to report.json's."""
        tree = Tree(dom)
        t = rep['totals']
        summary = {r.attrs['data-k']: r for r in rows(tree, 'summary-table')}
        def sval(k):
            return [c for c in summary[k].walk() if c.tag == 'td'][0].text()
        for k in ('files', 'files_failed', 'files_partial', 'packets', 'bytes', 'flows',
                  'flows_tcp', 'flows_udp'):
            self.assertEqual(num(sval(k)), t[k], k)
        self.assertEqual(tree.by_id('complete').attrs['data-complete'],
                         'true' if rep['complete'] else 'false')
        if not rep['options']['detection']:
            self.assertNotIn('hosts-table', dom)
            return
        self.assertEqual(num(sval('tor_flows_total')), rep['tor_flows_total'])
        for v, n in t['verdicts'].items():
            self.assertEqual(num(sval('verdict:' + v)), n, v)
        self.assertEqual(sum(num(sval('verdict:' + v)) for v in t['verdicts'] if v != 'none'),
                         rep['tor_flows_total'])
        for v, n in t['candidates'].items():
            self.assertEqual(num(sval('candidates' if v == 'total' else 'candidate:' + v)),
                             n, v)
        for k in ('hosts_total', 'candidate_only_hosts', 'relays_total'):
            self.assertEqual(num(sval(k)), rep[k], k)
        self.assertAlmostEqual(float(sval('min_score')), rep['options']['min_score'])

        # hosts: the first MAX_HOSTS, in report.json's order, with its numbers
        hrows = rows(tree, 'hosts-table')
        self.assertEqual(len(hrows), min(len(rep['hosts']), MAX_HOSTS))
        for r, h in zip(hrows, rep['hosts']):
            self.assertEqual(r.attrs['data-host'], h['address'])
            c = cells(r)
            self.assertEqual(num(c['tor_flows']), h['tor_flows'])
            self.assertEqual(num(c['tor_bytes']), h['tor_bytes'])
            self.assertEqual(num(c['candidates']), h['candidates'])
            self.assertEqual(num(c['relays_contacted']), h['relays_contacted'])
        shown = tree.by_id('hosts-shown')
        self.assertEqual(int(shown.attrs['data-total']), rep['hosts_total'])
        self.assertIn('Showing %s of %s hosts' % (format(len(hrows), ','),
                                                  format(rep['hosts_total'], ',')),
                      shown.text())

        # relays
        rrows = rows(tree, 'relays-table')
        self.assertEqual(len(rrows), min(len(rep['relays']), MAX_RELAYS))
        for r, e in zip(rrows, rep['relays']):
            ep = e['address'] if e['port'] is None else (
                ('[%s]:%d' if ':' in e['address'] else '%s:%d') % (e['address'], e['port']))
            self.assertEqual(r.attrs['data-relay'], ep)
            c = cells(r)
            self.assertEqual(num(c['tor_flows']), e['tor_flows'])
            self.assertEqual(num(c['tor_bytes']), e['tor_bytes'])
            self.assertEqual(num(c['hosts_total']), e['hosts_total'])
        self.assertEqual(int(tree.by_id('relays-shown').attrs['data-total']),
                         rep['relays_total'])

        # Tor flows and candidates: rows shown vs the totals, each row's numbers
        for key, table, total, cap, vkey in (
                ('tor_flows', 'tor-flows-table', 'tor_flows_total', MAX_TOR, 'verdict'),
                ('candidate_flows', 'candidates-table', 'candidate_flows_total', MAX_CAND,
                 'candidate')):
            flows = rep[key]
            want = min(len(flows), cap)
            frows = rows(tree, table) if want else []
            self.assertEqual(len(frows), want, key)
            sid = table.replace('-table', '-shown')
            self.assertEqual(int(tree.by_id(sid).attrs['data-shown']), want)
            self.assertEqual(int(tree.by_id(sid).attrs['data-total']), rep[total])
            self.assertIn('Showing %s of %s' % (format(want, ','), format(rep[total], ',')),
                          tree.by_id(sid).text())
            for r, f in zip(frows, flows):
                c = cells(r)
                self.assertEqual(num(c['packets']), f['packets'])
                self.assertEqual(num(c['bytes']), f['bytes'])
                self.assertEqual(c['verdict'], f[vkey])
                self.assertAlmostEqual(float(c['score']), f['score'], places=6)
                ids = [li.walk().__next__().text() for li in r.walk() if li.tag == 'li']
                self.assertEqual(ids, [e['id'] for e in f['evidence']])

        # bytes over time: every bar, and their sum
        bars = [int(n.attrs['data-bytes']) for n in tree.all('rect')
                if 'data-bytes' in n.attrs]
        self.assertEqual(bars, [int(b[1]) for b in rep['activity']['bars']])
        if bars:
            self.assertEqual(num(tree.by_id('activity-sum').text()), sum(bars))
        # the timeline has one row (label) per host shown, at most 100
        labels = [n.text() for n in tree.by_id('timeline-svg').walk()
                  if n.tag == 'text' and n.attrs.get('text-anchor') == 'end'] \
            if rep['hosts'] else []
        self.assertEqual(labels, [h['address'] for h in rep['hosts'][:100]])

        # files
        frows = rows(tree, 'files-table')
        self.assertEqual(len(frows), min(len(rep['files']), MAX_FILES))
        for r, f in zip(frows, rep['files']):
            c = cells(r)
            for k in ('size', 'packets', 'flows'):
                self.assertEqual(num(c[k]), f[k], k)
            self.assertEqual(num(c['candidates']), f['candidates']['total'])
            self.assertEqual(int(c['confidence']), f['confidence'])
            path = [n for n in r.walk() if n.tag == 'td'][1].text()
            self.assertEqual(path, f['path'])

    def open_and_check(self, out):
        rep = self.report(out)
        text = self.html(out)
        self.check_static(text)
        self.check_numbers(rep, text)  # the file as written
        if not CHROMIUM:
            return
        dom, console = chromium_dom(os.path.join(out, 'report.html'),
                                    os.path.join(self.dir, 'chromium-profile'))
        self.assertEqual(console, [], 'console messages while loading report.html')
        self.check_numbers(rep, dom)  # the page as Chromium built it
        # the filter script ran (inputs are hidden until it does)
        tree = Tree(dom)
        inputs = list(tree.all('input'))
        self.assertTrue(inputs)
        for n in inputs:
            self.assertNotIn('hidden', n.attrs)

    def test_chromium_is_there(self):
        """Says so, as a skipped test, when the browser checks did not run."""
        if not CHROMIUM:
            self.skipTest('chromium not installed (apt-get install chromium; .ci/run installs '
                          'it): report.html was checked without a browser (no load, no '
                          'console check)')

    def test_sample(self):
        self.analyze([os.path.join(SAMPLE_DIR, 'tornet-client.pcap')], self.out,
                     os.path.join(SAMPLE_DIR, 'consensus'))
        self.open_and_check(self.out)
        rep = self.report()
        self.assertEqual(rep['tor_flows_total'], 4)  # the sample's known answer

    def test_sample_without_relay_data_and_detection(self):
        pcap = os.path.join(SAMPLE_DIR, 'tornet-client.pcap')
        self.analyze([pcap], self.out)
        self.open_and_check(self.out)
        out2 = os.path.join(self.dir, 'nodetect')
        self.analyze([pcap], out2, extra=['--no-detect'])
        self.open_and_check(out2)

    def test_corpus(self):
        tornet = os.path.join(CORPUS or '', 'tornet', 'default-s1')
        if not CORPUS or not os.path.isdir(tornet):
            self.skipTest('corpus not found (../shared/corpus/tornet/default-s1): the '
                          'several-hosts capture is not checked')
        pcaps = sorted(os.path.join(tornet, p) for p in os.listdir(tornet)
                       if p.endswith('.pcap'))
        self.analyze(pcaps, self.out, os.path.join(tornet, 'consensus'))
        rep = self.report()
        self.assertGreaterEqual(rep['hosts_total'], 3)
        self.open_and_check(self.out)

    def test_hostile_file_name_is_escaped(self):
        name = 'x<script>alert(1)<\\script>"\'&<b>.pcap'
        path = os.path.join(self.dir, name)
        shutil.copy(os.path.join(SAMPLE_DIR, 'tornet-client.pcap'), path)
        self.analyze([path], self.out, os.path.join(SAMPLE_DIR, 'consensus'))
        text = self.html(self.out)
        self.assertNotIn('<script>alert', text)
        self.assertNotIn('<b>.pcap', text)
        self.assertIn('x&lt;script&gt;alert(1)&lt;\\script&gt;&quot;&#39;&amp;&lt;b&gt;.pcap',
                      text)
        tree = Tree(text)
        self.assertEqual(len(list(tree.all('script'))), 1)  # ours only
        self.assertIn(path, [n.text() for n in tree.all('td')])
        self.open_and_check(self.out)

    def test_no_html(self):
        pcap = os.path.join(SAMPLE_DIR, 'tornet-client.pcap')
        self.analyze([pcap], self.out)
        self.assertTrue(os.path.exists(os.path.join(self.out, 'report.html')))
        # --no-html writes none, and removes the earlier run's: it would describe other flows
        self.analyze([pcap], self.out, extra=['--no-html'])
        self.assertEqual(sorted(os.listdir(self.out)), ['flows.msgpack', 'report.json'])
        out2 = os.path.join(self.dir, 'fresh')
        self.analyze([pcap], out2, extra=['--no-html'])
        self.assertEqual(sorted(os.listdir(out2)), ['flows.msgpack', 'report.json'])

    def test_report_renders_the_same_bytes(self):
        self.analyze([os.path.join(SAMPLE_DIR, 'tornet-client.pcap')], self.out,
                     os.path.join(SAMPLE_DIR, 'consensus'))
        html_path = os.path.join(self.out, 'report.html')
        with open(html_path, 'rb') as f:
            before = f.read()
        os.unlink(html_path)
        r = subprocess.run([TORTRACE, 'report', self.out], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(html_path, 'rb') as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(sorted(os.listdir(self.out)),
                         ['flows.msgpack', 'report.html', 'report.json'])
        # not a report: exit 1, a message, the page kept as it was, no temporary file
        with open(os.path.join(self.dir, 'report.json'), 'w') as f:
            f.write('{"schema": "something else"}')
        r = subprocess.run([TORTRACE, 'report', self.dir], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn('not a tortrace report', r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, 'report.html')))
        self.assertFalse(os.path.exists(os.path.join(self.dir, 'report.html.tmp')))
        r = subprocess.run([TORTRACE, 'report', os.path.join(self.dir, 'missing')],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn('report.json', r.stderr)
        r = subprocess.run([TORTRACE, 'report'], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)

    def test_render_failure_keeps_previous_outputs(self):
        pcap = os.path.join(SAMPLE_DIR, 'tornet-client.pcap')
        self.analyze([pcap], self.out, os.path.join(SAMPLE_DIR, 'consensus'))
        before = read_all(self.out)
        # report.html.tmp cannot be created: the run fails and changes nothing
        os.mkdir(os.path.join(self.out, 'report.html.tmp'))
        r = self.analyze([pcap], self.out, rc=1)
        self.assertIn('report.html', r.stderr)
        self.assertIn('the previous outputs are kept', r.stderr)
        os.rmdir(os.path.join(self.out, 'report.html.tmp'))
        self.assertEqual(read_all(self.out), before)

    def test_odd_values_do_not_break_the_renderer(self):
        """`tortrace report` takes any file: absurd times and sizes give a page, not a hang
        or undefined behaviour (the ASan+UBSan build runs this too)."""
        self.analyze([os.path.join(SAMPLE_DIR, 'tornet-client.pcap')], self.out,
                     os.path.join(SAMPLE_DIR, 'consensus'))
        rep = self.report()
        rep['hosts'][0]['active_periods'] = [[1e300, -5], [-1e300, 1e300], [5, 4]]
        rep['hosts'][1]['first_ts'] = 1e300
        rep['activity'] = {'bar_s': 1e-300, 'bars': [[1e300, 1e300], [-1, -1e30]]}
        rep['files'][0]['first_ts'] = -1e300
        rep['tor_flows'][0]['duration_s'] = 1e300
        rep['tor_flows'][0]['bytes'] = 1e300
        rep['run']['elapsed_s'] = -1e300
        with open(os.path.join(self.out, 'report.json'), 'w') as f:
            json.dump(rep, f)
        r = subprocess.run([TORTRACE, 'report', self.out], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_static(self.html(self.out))

    def test_large_report_is_bounded(self):
        """A report.json with more of everything than the page shows: the tables stop at
        their bounds and say how many there are; the file stays small."""
        self.analyze([os.path.join(SAMPLE_DIR, 'tornet-client.pcap')], self.out,
                     os.path.join(SAMPLE_DIR, 'consensus'))
        rep = self.report()
        big = copy.deepcopy(rep)
        n_hosts, n_flows, n_cand, n_files = 1500, 3000, 700, 1200
        big['hosts'] = []
        for i in range(n_hosts):
            h = copy.deepcopy(rep['hosts'][0])
            h['address'] = '10.%d.%d.%d' % (i >> 16, (i >> 8) & 255, i & 255)
            h['tor_flows'] = n_hosts - i
            h['active_periods'] = [[rep['hosts'][0]['first_ts'] + k, rep['hosts'][0]['first_ts']
                                    + k + 0.5] for k in range(0, 40, 2)]
            big['hosts'].append(h)
        big['hosts_total'] = n_hosts + 77  # report.json lists the first ones only
        big['relays'] = [dict(copy.deepcopy(rep['relays'][0]), port=10000 + i)
                         for i in range(900)]
        big['relays_total'] = 900
        f0 = rep['tor_flows'][0]
        big['tor_flows'] = [copy.deepcopy(f0) for _ in range(n_flows)]
        big['tor_flows_total'] = 100000
        big['totals']['verdicts']['tor'] = 100000 - big['totals']['verdicts']['tor-dir']
        c = copy.deepcopy(f0)
        c['verdict'], c['candidate'], c['score'] = 'none', 'tor-pt', 0.2
        big['candidate_flows'] = [c] * n_cand
        big['candidate_flows_total'] = 5000
        big['files'] = [dict(copy.deepcopy(rep['files'][0]), path='f%05d.pcap' % i)
                        for i in range(n_files)]
        big['totals']['files'] = n_files
        out = os.path.join(self.dir, 'big')
        os.mkdir(out)
        with open(os.path.join(out, 'report.json'), 'w') as f:
            json.dump(big, f)
        r = subprocess.run([TORTRACE, 'report', out], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        text = self.html(out)
        self.assertLess(len(text), 6 << 20)
        self.check_static(text)
        tree = Tree(text)
        self.check_numbers(big, text)
        self.assertEqual(len(rows(tree, 'hosts-table')), MAX_HOSTS)
        self.assertIn('Showing 500 of 1,577 hosts; report.json lists 1,500',
                      tree.by_id('hosts-shown').text())
        self.assertIn('Showing 1,000 of 100,000 Tor flows; report.json lists 3,000; every '
                      'flow is in flows.msgpack', tree.by_id('tor-flows-shown').text())
        self.assertIn('Showing 200 of 5,000', tree.by_id('candidates-shown').text())
        self.assertIn('Showing 1,000 of 1,200 files', tree.by_id('files-shown').text())


if __name__ == '__main__':
    TORTRACE, SAMPLE_DIR = sys.argv[1], sys.argv[2]
    CORPUS = sys.argv[3] if len(sys.argv) > 3 and os.path.isdir(sys.argv[3]) else None
    del sys.argv[1:]
    unittest.main(verbosity=2)
