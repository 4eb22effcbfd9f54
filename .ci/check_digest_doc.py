"""Runs the reference implementation in docs/digest.md against the documented vectors, so the
specification, its Python and the Rust tests (src/digest.rs) cannot drift apart."""
import pathlib
import re
import sys

doc = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "digest.md").read_text()
code = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
ns = {}
exec(code, ns)  # noqa: S102 - our own documentation
configmap_digest, secret_digest, combined = ns["configmap_digest"], ns["secret_digest"], ns["combined"]

app = configmap_digest({"a": "1", "b": "2"}, {})
checks = {
    "contract: app, all keys": (app, "e86586d07e4c262f1830b3d9a60bd103ccb88dca72a8a7c1095fea9b5fe5202c"),
    "contract: app combined": (combined({("configmap", "app"): app}),
                               "sha256:babea8e6b599b92336d8b038cdfff1640be392240659b67bba5c700408f3469e"),
    "contract: keys a and z": (configmap_digest({"a": "1", "b": "2"}, {}, ["a", "z"]),
                               "1c614cd19f192544dc291ad7fde1c20e9ab5c1a424ca00630bc11626e2d77b5c"),
    "contract: empty": (configmap_digest({}, {}), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    "binaryData": (configmap_digest({}, {"k": "3q0="}), "d86f7baca5a7babb1a8b39e880c1c65db44872256cd109e4c925a13b32a2995e"),
    "absent source": (combined({("configmap", "app"): app, ("configmap", "zeta"): None}),
                      "sha256:c2847b859c0cc967ca5084269e6dedee887a695d0d839ced00fd276a21a5f351"),
}
db = secret_digest(b"0123456789abcdef0123456789abcdef\n", {"password": "aHVudGVyMg=="})
checks["secret HMAC"] = (db, "89390e1093419926b64c02d731b2437c1c56581d77a7e13b0c38ce9db343a161")
checks["configmap before secret"] = (combined({("secret", "db"): db, ("configmap", "app"): app}),
                                     "sha256:10f355adf508919649df3d96d8128e5daef67574a1fc1f973cdf84e28e918735")
failed = [name for name, (got, want) in checks.items() if got != want]
for name in failed:
    print(f"FAIL {name}: {checks[name][0]} != {checks[name][1]}")
missing = [want for _, want in checks.values() if want.removeprefix("sha256:") not in doc]
for want in missing:
    print(f"FAIL vector {want} is not in docs/digest.md")
print(f"{len(checks) - len(failed)} passed, {len(failed) + len(missing)} failed")
sys.exit(1 if failed or missing else 0)
