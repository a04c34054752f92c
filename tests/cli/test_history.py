#!/usr/bin/env python3
"""The history of analyses: recorded by analyze, listed by `history`, shown by `show`;
concurrent runs, a corrupt database and an unwritable one never fail an analysis.
usage: test_history.py TORTRACE SAMPLE_PCAP"""
import clitest
import concurrent.futures, json, os, re, sqlite3, subprocess, sys
import unittest

TORTRACE = SAMPLE = None


def run(*args, env=None):
    return subprocess.run([TORTRACE, *args], capture_output=True, text=True, timeout=300,
                          env=env)


class History(clitest.TempDirCase):
    def setUp(self):
        super().setUp()
        self.db = os.path.join(self.dir, 'h', 'history.sqlite')

    def analyze(self, out, *opts):
        r = run('analyze', '-q', '--no-hash', '--history', self.db, '-o', out, *opts, SAMPLE)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def history(self, *args):
        r = run('history', '--history', self.db, *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def test_recorded_listed_and_shown(self):
        a, b = os.path.join(self.dir, 'a'), os.path.join(self.dir, 'b')
        self.analyze(a)
        self.analyze(b, '--min-score', '0.9', '--write-pcap', os.path.join(b, 'tor.pcap'))
        rows = json.loads(self.history('--json').stdout)
        self.assertEqual([r['id'] for r in rows], [2, 1])  # newest first
        self.assertEqual(rows[0]['out_dir'], os.path.realpath(b))
        self.assertEqual(rows[1]['report'], os.path.join(os.path.realpath(a), 'report.json'))
        self.assertEqual(rows[1]['html'], os.path.join(os.path.realpath(a), 'report.html'))
        self.assertIsNone(rows[1]['pcap'])
        self.assertEqual(rows[0]['pcap'], os.path.join(os.path.realpath(b), 'tor.pcap'))
        rep = self.report(a)
        r1 = rows[1]
        self.assertEqual(r1['flows'], rep['totals']['flows'])
        self.assertEqual(r1['packets'], rep['totals']['packets'])
        self.assertEqual(r1['tor_flows'], rep['tor_flows_total'])
        self.assertEqual(r1['candidates'], rep['totals']['candidates']['total'])
        for v, n in r1['verdicts'].items():
            self.assertEqual(n, rep['totals']['verdicts'][v], v)
        self.assertEqual([h['address'] for h in r1['hosts']],
                         [h['address'] for h in rep['hosts']])
        self.assertEqual([h['tor_flows'] for h in r1['hosts']],
                         [h['tor_flows'] for h in rep['hosts']])
        self.assertIn('--min-score 0.9', rows[0]['command'])
        self.assertTrue(rows[0]['command'].startswith('tortrace analyze'))
        self.assertEqual(rows[0]['min_score'], 0.9)
        # show, as text and JSON
        s = json.loads(run('show', '1', '--json', '--history', self.db).stdout)
        self.assertEqual(s['inputs'][0]['path'], os.path.realpath(SAMPLE))  # absolute
        self.assertEqual(s['inputs'][0]['size'], os.path.getsize(SAMPLE))
        self.assertEqual(s['inputs'][0]['packets'], rep['files'][0]['packets'])
        t = run('show', '1', '--history', self.db)
        self.assertEqual(t.returncode, 0, t.stderr)
        self.assertIn(os.path.join(os.path.realpath(a), 'report.json'), t.stdout)
        self.assertIn(rep['hosts'][0]['address'], t.stdout)
        # table
        text = self.history().stdout
        self.assertIn(os.path.realpath(a), text)
        self.assertLess(text.index(os.path.realpath(b)), text.index(os.path.realpath(a)))
        # filters
        host = rep['hosts'][0]['address']
        self.assertEqual(len(json.loads(self.history('--host', host, '--json').stdout)), 2)
        self.assertEqual(json.loads(self.history('--host', '192.0.2.99', '--json').stdout), [])
        self.assertEqual(json.loads(self.history('--since', '2100-01-01', '--json').stdout), [])
        self.assertEqual(len(json.loads(self.history('--since', '2000-01-01 00:00:00',
                                                     '--json').stdout)), 2)
        # errors: no such analysis, bad date
        self.assertEqual(run('show', '7', '--history', self.db).returncode, 1)
        self.assertEqual(run('history', '--since', 'yesterday', '--history', self.db).returncode, 2)

    def test_no_history_and_default_path(self):
        self.analyze(self.out)  # creates self.db
        r = run('analyze', '-q', '--no-history', '--history', self.db, '-o', self.out, SAMPLE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(json.loads(self.history('--json').stdout)), 1)
        env = dict(os.environ, XDG_DATA_HOME=os.path.join(self.dir, 'xdg'))
        r = run('analyze', '-q', '--no-hash', '-o', self.out, SAMPLE, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.dir, 'xdg', 'tortrace',
                                                    'history.sqlite')))
        r = run('history', '--json', env=env)
        self.assertEqual(len(json.loads(r.stdout)), 1)

    def test_concurrent_runs_lose_nothing(self):
        n = 8
        with concurrent.futures.ThreadPoolExecutor(n) as ex:
            rs = list(ex.map(lambda i: run('analyze', '-q', '--no-hash', '-j', '1', '--history',
                                           self.db, '-o', os.path.join(self.dir, 'o%d' % i),
                                           SAMPLE), range(n)))
        for r in rs:
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn('history', r.stderr)
        rows = json.loads(self.history('--json').stdout)
        self.assertEqual(len(rows), n)
        self.assertEqual(sorted(r['out_dir'] for r in rows),
                         sorted(os.path.realpath(os.path.join(self.dir, 'o%d' % i))
                                for i in range(n)))
        con = sqlite3.connect(self.db)
        self.assertEqual(con.execute('PRAGMA integrity_check').fetchone()[0], 'ok')
        self.assertEqual(con.execute('PRAGMA journal_mode').fetchone()[0], 'wal')
        self.assertEqual(con.execute('SELECT count(*) FROM inputs').fetchone()[0], n)
        con.close()

    def test_columns_of_later_verdicts_added_in_place(self):
        # a history written before tor-snowflake, tor-meek and tor-webtunnel: the same
        # schema 1 without their columns, with one analysis in it
        self.analyze(os.path.join(self.dir, 'a'))
        con = sqlite3.connect(self.db)
        cols = [r[1] for r in con.execute('PRAGMA table_info(analyses)')]
        later = ['v_tor_snowflake', 'v_tor_meek', 'v_tor_webtunnel']
        self.assertEqual(cols[-3:], later)
        keep = ', '.join(c for c in cols if c not in later)
        ddl = con.execute("SELECT sql FROM sqlite_master WHERE name = 'analyses'").fetchone()[0]
        ddl = re.sub(r',\s*v_tor_snowflake INTEGER NOT NULL DEFAULT 0.*\)\s*$', ')', ddl,
                     flags=re.S).replace('CREATE TABLE analyses', 'CREATE TABLE old')
        self.assertNotIn('v_tor_meek', ddl)
        con.executescript(f'{ddl}; INSERT INTO old SELECT {keep} FROM analyses; '
                          'DROP TABLE analyses; ALTER TABLE old RENAME TO analyses;')
        con.close()
        r = run('show', '1', '--json', '--history', self.db)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)['verdicts']['tor-meek'], 0)
        self.analyze(os.path.join(self.dir, 'b'))
        con = sqlite3.connect(self.db)
        cols = [r[1] for r in con.execute('PRAGMA table_info(analyses)')]
        self.assertEqual(cols[-3:], later)
        self.assertEqual(con.execute('PRAGMA user_version').fetchone()[0], 1)
        self.assertEqual(con.execute('SELECT count(*) FROM analyses').fetchone()[0], 2)
        con.close()
        rows = json.loads(self.history('--json').stdout)
        self.assertEqual(len(rows), 2)
        for row in rows:
            self.assertEqual(set(row['verdicts']) >= {'tor-snowflake', 'tor-meek',
                                                      'tor-webtunnel'}, True)

    def test_corrupt_or_unwritable_history_never_fails_the_analysis(self):
        os.makedirs(os.path.dirname(self.db))
        with open(self.db, 'wb') as f:
            f.write(b'this is not a database' * 300)
        r = run('analyze', '-q', '--no-hash', '--history', self.db, '-o', self.out, SAMPLE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('history ' + self.db, r.stderr)
        self.assertIn('not recorded', r.stderr)
        self.assertGreater(self.report()['totals']['flows'], 0)
        r = run('history', '--history', self.db)
        self.assertEqual(r.returncode, 1)
        self.assertIn(self.db, r.stderr)
        # a history that cannot be created (its folder is a file)
        bad = os.path.join(self.db, 'sub', 'history.sqlite')
        r = run('analyze', '-q', '--no-hash', '--history', bad, '-o', self.out, SAMPLE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('not recorded', r.stderr)
        # a missing history is an error for the readers, never created by them
        missing = os.path.join(self.dir, 'none.sqlite')
        self.assertEqual(run('history', '--history', missing).returncode, 1)
        self.assertFalse(os.path.exists(missing))


if __name__ == '__main__':
    TORTRACE, SAMPLE = sys.argv[1], sys.argv[2]
    del sys.argv[1:]
    unittest.main(verbosity=2)
