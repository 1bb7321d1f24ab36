"""`meson install` puts the package iam into the interpreter's site-packages: stage an
install (--destdir) and import iam from the staged directory alone, in a fresh interpreter.

Usage: install_check.py MESON BUILD_DIR INSTALL_DIR (py.get_install_dir(): site-packages)"""
import os
import subprocess
import sys
import tempfile

meson, build, install_dir = sys.argv[1:4]
with tempfile.TemporaryDirectory() as stage:
    subprocess.run([meson, "install", "-C", build, "--no-rebuild", "--quiet", "--destdir", stage],
                   check=True, stdout=subprocess.DEVNULL)
    site = stage + install_dir
    package = os.path.join(site, "iam")
    names = sorted(os.listdir(package))
    print("installed:", package, names)
    for required in ("__init__.py", "_iam.pyi", "py.typed"):
        assert required in names, f"{required} not installed in {package}"
    assert any(n.startswith("_iam.") and n.endswith(".so") for n in names), "no extension module installed"
    code = ("import iam, sys; assert iam.__file__.startswith(sys.argv[1]), iam.__file__; "
            "assert iam._iam.__file__.startswith(sys.argv[1]); "
            "r = iam.roles_regime(iam.open_store('memory'), bootstrap_mode='token', bootstrap_token='tg_' + 'i' * 40, "
            "read_environment=False); print(r.authenticate('tg_' + 'i' * 40))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = site
    subprocess.run([sys.executable, "-c", code, package], check=True, env=env, cwd=stage)
print("ok   the staged install imports: PYTHONPATH=<site-packages> is enough")
