#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""compare.py: run every case of t/kuvert/cases through Kuvert 2.2.5 and
through koverto and print TAP, one line per case (t/0020-kuvert-compare.t
sets everything up and runs this).

  /usr/bin/python3 t/kuvert/compare.py --cases FILE --work DIR --port PORT
      --sink DIR --reader HOME --kuvert-home HOME --koverto-home HOME
      --fingerprints FILE [--kuvert-only | --koverto-only] [--record]
      [--only ID,ID...] [--every N]

Per case, in DIR/c/ID: one Kuvert-format configuration file `conf` (the
case's lines after a common base: queue directory, sink, defaultkey alice).
The queue file is written as DIR/c/ID/queue/<all digits>; `kuvert -c conf
-o` runs; what the sink got and what became of the queue file is classified
(classify.py); the queue directory is emptied, the same file is written
again, and `$KOVERTO -c conf -o` runs with the same configuration file, the
same sink and its own copy of the same GnuPG home. A case passes when Kuvert
did what the table records for it, and koverto did the same as Kuvert (or,
where the table names a deliberate difference, exactly what it records).

--kuvert-only runs only the Kuvert side and checks it against the table
(to validate the harness); --record (implies --kuvert-only) writes Kuvert's
observed results into the table instead. --koverto-only runs only koverto
and compares it with the table's record of Kuvert (scripts/memcheck, where
koverto runs under valgrind and Kuvert's side would add nothing); --every N
runs every Nth case only (the first always: it checks koverto can at all).
Both programs get TMPDIR=DIR/tmp,
so koverto also meets the pid file a finished `kuvert -o` leaves behind.
"""

import argparse
import difflib
import os
import pwd
import re
import shutil
import subprocess
import signal
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import classify  # noqa: E402  (the helper next to this file)

QUEUE_NAME = '4711'       # all digits: a Kuvert queue entry
TIMEOUT = 180             # seconds per program run (valgrind is slow)


class Case:
    def __init__(self, ident, title, line):
        self.id = ident
        self.title = title
        self.line = line            # where the case starts, for messages
        self.config = []
        self.mail = []
        self.kuvert = []
        self.kuvert_span = None     # [first, end) line indexes of the kuvert block
        self.koverto = None         # None: same as Kuvert; else the expected lines
        self.difference = None      # "bug N: why", when koverto differs on purpose


FIELD_RE = re.compile(r'^(config|mail|kuvert|koverto):\s*(.*)$')
CASE_RE = re.compile(r'^=== (\d+) (\S+.*)$')


def parse_cases(path):
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    cases = []
    case = None
    field = None
    for i, line in enumerate(lines):
        m = CASE_RE.match(line)
        if m:
            case = Case(m.group(1), m.group(2), i + 1)
            cases.append(case)
            field = None
            continue
        if case is None or line.startswith('#') or not line.strip():
            field = None if not line.strip() else field
            continue
        if line.startswith('|'):
            if field is None:
                sys.exit(f'{path}:{i + 1}: "|" line outside a config/mail/kuvert/koverto block')
            text = line[2:] if line.startswith('| ') else line[1:]
            getattr(case, field).append(text)
            if field == 'kuvert':
                case.kuvert_span[1] = i + 1
            continue
        m = FIELD_RE.match(line)
        if not m:
            sys.exit(f'{path}:{i + 1}: cannot parse: {line}')
        field, rest = m.group(1), m.group(2).strip()
        if field == 'kuvert':
            case.kuvert_span = [i + 1, i + 1]
        elif field == 'koverto':
            if rest == 'same':
                field = None
            else:
                d = re.match(r'^differs, (bug \d+: .+)$', rest)
                if not d:
                    sys.exit(f'{path}:{i + 1}: koverto: must be "same" or "differs, bug N: why"')
                case.difference = d.group(1)
                case.koverto = []
    ids = [c.id for c in cases]
    if len(ids) != len(set(ids)):
        sys.exit(f'{path}: duplicate case numbers')
    for c in cases:
        if not c.mail or c.kuvert_span is None:
            sys.exit(f'{path}:{c.line}: case {c.id} needs mail: and kuvert:')
    return cases, lines


def substitute(text, fprs):
    """{name} is the fingerprint of a fixture key, {sp} a space (for trailing
    white space that an editor would otherwise eat)."""
    def one(m):
        key = m.group(1)
        if key == 'sp':
            return ' '
        if key not in fprs:
            sys.exit(f'unknown placeholder {{{key}}}')
        return fprs[key]
    return re.sub(r'\{([a-z-]+)\}', one, text)


class Runner:
    def __init__(self, args):
        self.args = args
        self.fprs = {}
        with open(args.fingerprints, encoding='ascii') as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    self.fprs[parts[0]] = parts[1]
        self.tmpdir = os.path.join(args.work, 'tmp')
        os.makedirs(self.tmpdir, mode=0o700, exist_ok=True)

    def config_text(self, case, d):
        base = [
            f'# Kuvert-format configuration, comparison case {case.id} ({case.title})',
            'defaultkey 0x{alice}',
            f'queuedir {d}/queue',
            f'tempdir {d}/ktmp',
            f'logfile {d}/log',
            'interval 2',
            'msserver 127.0.0.1',
            f'msport {self.args.port}',
            'use-agent t',
        ]
        # An option the case sets replaces the base line instead of
        # repeating it: the file stays one that any reader takes the same way.
        own = {line.split()[0].lower() for line in case.config
               if line.strip() and not line[0].isspace() and not line.startswith('#')}
        base = [line for line in base if line.startswith('#') or line.split()[0] not in own]
        return substitute('\n'.join(base + case.config) + '\n', self.fprs)

    def run(self, case, side):
        """One program over the case's queue file: (result lines, exit, output)."""
        d = os.path.join(self.args.work, 'c', case.id)
        queue = os.path.join(d, 'queue')
        shutil.rmtree(queue, ignore_errors=True)
        shutil.rmtree(os.path.join(d, 'ktmp'), ignore_errors=True)
        os.makedirs(queue, mode=0o700)
        mail = substitute('\n'.join(case.mail) + '\n', self.fprs).encode('utf-8')
        original = os.path.join(d, 'mail')
        with open(original, 'wb') as f:
            f.write(mail)
        fd = os.open(os.path.join(queue, QUEUE_NAME), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'wb') as f:
            f.write(mail)
        if side == 'kuvert':
            cmd = ['kuvert', '-c', os.path.join(d, 'conf'), '-o']
            home = self.args.kuvert_home
        else:
            cmd = [os.environ['KOVERTO'], '-c', os.path.join(d, 'conf'), '-o']
            home = self.args.koverto_home
        env = dict(os.environ, GNUPGHOME=home, TMPDIR=self.tmpdir)
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                               env=env, timeout=TIMEOUT, check=False)
            status, output = p.returncode, (p.stdout + p.stderr).decode('utf-8', 'replace')
        except subprocess.TimeoutExpired as e:
            status = 'timeout'
            output = ((e.stdout or b'') + (e.stderr or b'')).decode('utf-8', 'replace')
        got = os.path.join(d, side + '-sink')
        shutil.rmtree(got, ignore_errors=True)
        os.makedirs(got)
        for entry in os.listdir(self.args.sink):
            if re.fullmatch(r'\d+\.(eml|json)', entry):
                os.rename(os.path.join(self.args.sink, entry), os.path.join(got, entry))
        if os.path.exists(os.path.join(d, 'log')):
            os.replace(os.path.join(d, 'log'), os.path.join(d, side + '.log'))
        result = classify.classify(argparse.Namespace(
            sink=got, reader=self.args.reader, fingerprints=self.args.fingerprints,
            queue=queue, name=QUEUE_NAME, original=original))
        with open(os.path.join(d, side + '.result'), 'w', encoding='utf-8') as f:
            f.write('\n'.join(result) + '\n')
        with open(os.path.join(d, side + '.out'), 'w', encoding='utf-8') as f:
            f.write(f'exit {status}\n{output}')
        return result, status, output

    def case_dir(self, case):
        d = os.path.join(self.args.work, 'c', case.id)
        os.makedirs(d, mode=0o700, exist_ok=True)
        with open(os.path.join(d, 'conf'), 'w', encoding='utf-8') as f:
            f.write(self.config_text(case, d))
        os.chmod(os.path.join(d, 'conf'), 0o600)
        return d


def wait_until(predicate, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def read(path):
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()
    except FileNotFoundError:
        return ''


def beside_running_kuvert(runner, tap):
    """A Kuvert daemon serves the queue directory: koverto -o must refuse to
    touch it (exit 75, saying why), and work once that Kuvert has stopped."""
    args = runner.args
    case = Case('beside', 'beside-running-kuvert', 0)
    case.config = ['defaultaction fallback', 'interval 3600']
    d = runner.case_dir(case)
    queue = os.path.join(d, 'queue')
    os.makedirs(queue, mode=0o700, exist_ok=True)
    tmpdir = os.path.join(d, 'tmp')
    os.makedirs(tmpdir, mode=0o700, exist_ok=True)
    pidfile = os.path.join(tmpdir, f'kuvert.{os.getuid()}.pid')
    dot_kuvert = os.path.join(pwd.getpwuid(os.getuid()).pw_dir, '.kuvert')
    mail = b'From: alice@example.org\nTo: bob@example.net\nSubject: beside\n\nbody beside\n'
    cmd = [os.environ.get('KOVERTO', 'koverto'), '-c', os.path.join(d, 'conf'), '-o']
    koverto_env = dict(os.environ, GNUPGHOME=args.koverto_home, TMPDIR=tmpdir)
    with open(os.path.join(queue, '1'), 'wb') as f:
        f.write(b'From: alice@example.org\nTo: dave@example.com\nSubject: first\n\nfirst scan\n')
    out = open(os.path.join(d, 'kuvert.out'), 'wb')
    kuvert = subprocess.Popen(['kuvert', '-c', os.path.join(d, 'conf')], stdin=subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT,
                              env=dict(os.environ, GNUPGHOME=args.kuvert_home, TMPDIR=tmpdir))
    try:
        # Once its first scan is done Kuvert sleeps for the interval: a queue
        # file written after that waits for the next scan (in an hour).
        up = wait_until(lambda: 'done handling file 1' in read(os.path.join(d, 'log'))
                        and read(pidfile).strip().split('\n')[-1:] == [str(kuvert.pid)], 60)
        if args.kuvert_only or not up:
            tap(up, 'beside: a Kuvert daemon runs, its pid file is $TMPDIR/kuvert.UID.pid',
                [] if up else ['Kuvert did not start: ' + read(os.path.join(d, 'kuvert.out'))[-500:]])
            return
        with open(os.path.join(queue, QUEUE_NAME), 'wb') as f:
            f.write(mail)
        if os.path.exists(dot_kuvert):
            # koverto finds a running Kuvert's queue through ~/.kuvert; this
            # one runs with -c, which no process can see (its title is "kuvert").
            tap(True, 'beside: koverto refuses a queue directory that a running Kuvert serves '
                f'# SKIP {dot_kuvert} exists and names another queue than this test\'s Kuvert')
        else:
            before = sorted(os.listdir(args.sink))
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                               env=koverto_env, timeout=TIMEOUT, check=False)
            output = (p.stdout + p.stderr).decode('utf-8', 'replace')
            untouched = read(os.path.join(queue, QUEUE_NAME)).encode() == mail
            sent = sorted(os.listdir(args.sink)) != before
            good = p.returncode == 75 and 'kuvert' in output.lower() and untouched and not sent
            tap(good, 'beside: koverto refuses a queue directory that a running Kuvert serves',
                [] if good else [
                    f'koverto -o beside a running Kuvert (pid {kuvert.pid}): exit {p.returncode} '
                    '(want 75: the queue directory is in use), queue file '
                    + ('untouched' if untouched else 'touched') + (', mail sent' if sent else '')
                    + ' (want untouched, nothing sent, a message naming Kuvert); it said:']
                + output.strip().splitlines()[-5:]
                + [f'(there is no {dot_kuvert}, so this Kuvert was started with -c and its '
                   'queue directory cannot be known: koverto must assume it is this one)'])
    finally:
        if kuvert.poll() is None:
            kuvert.send_signal(signal.SIGTERM)
            try:
                kuvert.wait(30)
            except subprocess.TimeoutExpired:
                kuvert.kill()
                kuvert.wait()
        out.close()
    # Kuvert has stopped; its pid file stays behind (Kuvert never removes it).
    with open(os.path.join(queue, QUEUE_NAME), 'wb') as f:
        f.write(mail)
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, env=koverto_env,
                       timeout=TIMEOUT, check=False)
    done = not os.path.exists(os.path.join(queue, QUEUE_NAME))
    good = p.returncode == 0 and done and os.path.exists(pidfile)
    tap(good, 'beside: after Kuvert stopped, its stale pid file does not block koverto',
        [] if good else [f'koverto -o exit {p.returncode}, queue file '
                         + ('gone' if done else 'still there') + ':']
        + (p.stdout + p.stderr).decode('utf-8', 'replace').strip().splitlines()[-5:])
    for entry in os.listdir(args.sink):
        if re.fullmatch(r'\d+\.(eml|json)', entry):
            os.remove(os.path.join(args.sink, entry))


def diff(want, got, a, b):
    return [line.rstrip('\n') for line in difflib.unified_diff(want, got, a, b, lineterm='')]


def unsupported(result, status, output):
    """Why koverto evidently has no Kuvert queue support yet, or None."""
    if status == 78:
        first = output.strip().splitlines()[:1]
        return ('koverto rejects the Kuvert-format configuration file (exit 78: '
                + (first[0] if first else 'no message') + '): `koverto -c ~/.kuvert` must '
                'read the file Kuvert reads')
    if result[-1] == 'mail: untouched' and not any(
            ': ' in r and not r.endswith(': nothing') for r in result[:-1]
            if not r.startswith('headers: ')):
        return (f'koverto left the Kuvert queue file {QUEUE_NAME} untouched after -o (exit '
                f'{status}): it does not process the Kuvert queue (all-digit files at the '
                'top of queuedir) yet')
    return None


def expected_exit(lines):
    return 1 if 'mail: rejected' in lines else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    for opt in ('cases', 'work', 'port', 'sink', 'reader', 'kuvert-home', 'koverto-home',
                'fingerprints'):
        p.add_argument('--' + opt, required=True)
    p.add_argument('--kuvert-only', action='store_true')
    p.add_argument('--koverto-only', action='store_true')
    p.add_argument('--record', action='store_true')
    p.add_argument('--every', type=int, default=1)
    p.add_argument('--only', default='')
    args = p.parse_args()
    if args.record:
        args.kuvert_only = True
    cases, lines = parse_cases(args.cases)
    if args.only:
        wanted = set(args.only.replace(',', ' ').split())
        cases = [c for c in cases if c.id in wanted]
    if args.every > 1:
        cases = cases[::args.every]
    runner = Runner(args)
    n = 0
    failed = 0
    recorded = {}
    stopped = False

    def tap(good, text, notes=()):
        nonlocal n, failed
        n += 1
        if not good:
            failed += 1
        print(('ok' if good else 'not ok') + f' {n} - {text}')
        for note in notes:
            print('# ' + note)
        sys.stdout.flush()

    for index, case in enumerate(cases):
        d = runner.case_dir(case)
        label = f'{case.id} {case.title}'
        if args.koverto_only:
            k_result, k_status, k_out = case.kuvert, 0, ''
        else:
            k_result, k_status, k_out = runner.run(case, 'kuvert')
        notes = []
        k_good = k_result == case.kuvert
        if not k_good:
            notes.append(f'Kuvert (exit {k_status}) did not do what the table records:')
            notes += diff(case.kuvert, k_result, 'cases: kuvert', 'kuvert observed')
            notes += ['kuvert: ' + line for line in k_out.strip().splitlines()[-5:]]
        if args.kuvert_only:
            recorded[case.id] = k_result
            tap(k_good or args.record, f'{label}: Kuvert as recorded'
                + (' (recording)' if args.record else ''), notes if not args.record else ())
            if not (k_good or args.record):
                print(f'# files: {d}')
            continue
        v_result, v_status, v_out = runner.run(case, 'koverto')
        if index == 0:
            why = unsupported(v_result, v_status, v_out)
            tap(why is None, 'koverto reads the Kuvert configuration and takes mail from the '
                'Kuvert queue', [why] if why else ())
            if why:
                print(f'# the comparison needs that; stopping here (work dir {args.work})')
                stopped = True
                break
        want = k_result if case.koverto is None else case.koverto
        v_good = v_result == want
        if not v_good:
            what = 'Kuvert' if case.koverto is None else f'the table ({case.difference})'
            notes.append(f'koverto (exit {v_status}) did not do the same as {what}:')
            notes += diff(want, v_result, 'expected', 'koverto observed')
            notes += ['koverto: ' + line for line in v_out.strip().splitlines()[-5:]]
        x_good = v_status == expected_exit(v_result)
        if not x_good:
            notes.append(f'koverto -o exited {v_status}, expected {expected_exit(v_result)} '
                         '(0: all delivered, 1: a mail failed)')
            notes += ['koverto: ' + line for line in v_out.strip().splitlines()[-5:]]
        if case.koverto is None:
            text = f'{label}: koverto does the same as Kuvert'
        else:
            text = f'{label}: koverto differs as intended ({case.difference})'
        tap(k_good and v_good and x_good, text, notes)
        if not (k_good and v_good and x_good):
            print(f'# files: {d}')

    if not args.only or 'beside' in args.only.replace(',', ' ').split():
        if not stopped:
            beside_running_kuvert(runner, tap)

    if args.record:
        out = list(lines)
        for case in sorted(cases, key=lambda c: c.kuvert_span[0], reverse=True):
            first, end = case.kuvert_span
            out[first:end] = ['| ' + line for line in recorded[case.id]]
        with open(args.cases, 'w', encoding='utf-8') as f:
            f.write('\n'.join(out))
    print(f'1..{n}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
