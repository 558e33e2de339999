"""The Debian package as an operator meets it: `packaging/build-deb.sh` builds
it from the binary under test; lintian finds no error or warning; the unit
passes `systemd-analyze verify` and its offline security review; then, as root
on this machine, `dpkg -i` installs it, the installed binary and config work
(the service's own command line, run as the freshet user, serves with the
generated token), and remove and purge leave nothing of Freshet's behind."""
import glob
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import BIN, http_request  # noqa: E402

UNIT = "/lib/systemd/system/freshet.service"
# Every path of Freshet's a purge must remove (globs).
LEFTOVERS = ["/usr/bin/freshet", UNIT, "/etc/freshet", "/var/lib/freshet", "/usr/share/doc/freshet",
             "/usr/share/man/man1/freshet.1.gz", "/etc/systemd/system/*freshet*",
             "/etc/systemd/system/*/freshet.service", "/var/lib/systemd/deb-systemd-helper-*/*freshet*",
             "/var/lib/systemd/deb-systemd-helper-*/*/freshet.service"]


def run(*args, check=True, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, check=check, **kw)


def installed():
    r = run("dpkg-query", "-W", "-f=${Status}", "freshet", check=False)
    return r.returncode == 0 and "installed" in r.stdout and "not-installed" not in r.stdout


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out = tempfile.mkdtemp(prefix="freshet-deb-")
        r = run("bash", os.path.join(ROOT, "packaging", "build-deb.sh"), BIN, cls.out)
        cls.deb = r.stdout.strip().splitlines()[-1]
        cls.version = run(BIN, "version").stdout.split()[1]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out, ignore_errors=True)

    def test_lintian_finds_no_error_or_warning(self):
        r = run("lintian", "--tag-display-limit", "0", self.deb, check=False)
        problems = [line for line in r.stdout.splitlines() if re.match(r"^[EW]: ", line)]
        self.assertEqual(problems, [], r.stdout + r.stderr)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_the_package_holds_what_an_operator_needs(self):
        files = run("dpkg-deb", "-c", self.deb).stdout
        for path in ["./usr/bin/freshet", "." + UNIT, "./etc/freshet/freshet.toml",
                     "./usr/share/man/man1/freshet.1.gz", "./usr/share/doc/freshet/copyright",
                     "./usr/share/doc/freshet/changelog.gz", "./usr/share/doc/freshet/deploy.md.gz"]:
            self.assertRegex(files, r"root/root .* " + re.escape(path) + r"\n", path)
        info = run("dpkg-deb", "-f", self.deb, "Package", "Version", "Depends").stdout
        self.assertIn(f"Version: {self.version}", info)
        self.assertRegex(info, r"Depends: adduser, .*libsqlite3-0")
        self.assertEqual(run("dpkg-deb", "-f", self.deb, "Architecture").stdout.strip(),
                         run("dpkg", "--print-architecture").stdout.strip())
        with tempfile.TemporaryDirectory() as ctrl:
            run("dpkg-deb", "-e", self.deb, ctrl)
            with open(os.path.join(ctrl, "conffiles")) as f:
                self.assertEqual(f.read().split(), ["/etc/freshet/freshet.toml"])
        # The man page is the CLI's own help, every subcommand included.
        with tempfile.TemporaryDirectory() as tree:
            run("dpkg-deb", "-x", self.deb, tree)
            page = run("man", "-l", os.path.join(tree, "usr/share/man/man1/freshet.1.gz"),
                       env={**os.environ, "MANWIDTH": "100", "MAN_KEEP_FORMATTING": ""}).stdout
            for sub in ["demo", "serve", "check-config", "sync", "init", "simulate"]:
                self.assertIn(run(BIN, sub, "--help").stdout.splitlines()[0], page, sub)
            self.assertIn("/etc/freshet/freshet.env", page)

    @unittest.skipUnless(os.geteuid() == 0, "dpkg -i needs root; run the suite as root (CI does)")
    def test_install_use_remove_and_purge(self):
        if installed():
            self.skipTest("a freshet package is installed on this machine already; not replacing it")
        try:
            self.install_and_use()
            run("dpkg", "--remove", "freshet")
            self.assertFalse(os.path.exists("/usr/bin/freshet"))
            self.assertTrue(os.path.exists("/etc/freshet/freshet.toml"), "remove keeps the conffile")
            run("dpkg", "--purge", "freshet")
            left = [p for pattern in LEFTOVERS for p in glob.glob(pattern)]
            self.assertEqual(left, [], "purge left these behind")
            self.assertRaises(KeyError, pwd.getpwnam, "freshet")
        finally:
            if installed() or run("dpkg-query", "-W", "freshet", check=False).returncode == 0:
                run("dpkg", "--purge", "freshet", check=False)

    def install_and_use(self):
        r = run("dpkg", "-i", self.deb, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # The unit, now that its binary and user exist.
        r = run("systemd-analyze", "verify", "--man=no", UNIT, check=False)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))
        r = run("systemd-analyze", "security", "--offline=true", "--threshold=20", UNIT, check=False)
        exposure = float(re.search(r"Overall exposure level for freshet.service: ([\d.]+)", r.stdout).group(1))
        self.assertLessEqual(exposure, 2.0, r.stdout)

        user = pwd.getpwnam("freshet")
        self.assertEqual(user.pw_dir, "/var/lib/freshet")
        self.assertIn(user.pw_shell, ("/usr/sbin/nologin", "/bin/false"))
        st = os.stat("/var/lib/freshet")
        self.assertEqual((st.st_uid, oct(st.st_mode & 0o777)), (user.pw_uid, "0o750"))
        st = os.stat("/etc/freshet/freshet.env")
        self.assertEqual((st.st_uid, grp.getgrgid(st.st_gid).gr_name, oct(st.st_mode & 0o777)),
                         (0, "freshet", "0o640"))
        with open("/etc/freshet/freshet.env") as f:
            env = dict(line.strip().split("=", 1) for line in f if "=" in line and not line.startswith("#"))
        token = env["FRESHET_OPERATOR_TOKEN"]
        self.assertRegex(token, r"^[0-9a-f]{48}$")

        self.assertEqual(run("/usr/bin/freshet", "--version").stdout.strip(), f"freshet {self.version}")
        r = run("/usr/bin/freshet", "check-config", "--config", "/etc/freshet/freshet.toml",
                env={**os.environ, **env}, check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        # A reinstall (an upgrade to the same version) keeps the operator's token.
        run("dpkg", "-i", self.deb)
        with open("/etc/freshet/freshet.env") as f:
            self.assertIn(token, f.read())

        # The service's command line, as its user, on a free port (the
        # installed config listens on 8080, which this machine may be using).
        port = free_port()
        with open("/etc/freshet/freshet.toml") as f:
            config = f.read().replace('listen = "127.0.0.1:8080"', f'listen = "127.0.0.1:{port}"')
        self.assertIn(str(port), config)
        cfg = os.path.join("/var/lib/freshet", "test.toml")
        with open(cfg, "w") as f:
            f.write(config)
        os.chown(cfg, user.pw_uid, user.pw_gid)
        proc = subprocess.Popen(["/usr/bin/freshet", "serve", "--config", cfg], user="freshet", group="freshet",
                                extra_groups=[], env={"PATH": "/usr/bin:/bin", **env}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 20
            status = None
            while time.time() < deadline and status is None:
                try:
                    status = http_request(port, "GET", "/healthz")[0]
                except OSError:
                    time.sleep(0.1)
            self.assertEqual(status, 200)
            self.assertEqual(http_request(port, "GET", "/api/stats")[0], 401)
            self.assertEqual(http_request(port, "GET", "/api/stats",
                                          headers={"Authorization": "Bearer " + token})[0], 200)
            self.assertTrue(os.path.exists("/var/lib/freshet/freshet.db"))
            self.assertEqual(os.stat("/var/lib/freshet/freshet.db").st_uid, user.pw_uid)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=15)
        self.assertEqual(proc.returncode, 0, err)


if __name__ == "__main__":
    unittest.main()
