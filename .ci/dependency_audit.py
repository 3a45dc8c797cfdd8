"""Audit the installed Python packages for known vulnerabilities with pip-audit.

Exit 1 when a package has a known vulnerability (naming it, the advisory and the
fixed versions). When the advisory service cannot be reached, or answers for no
package at all (a package mirror without vulnerability data answers "not found"
for every package, and pip-audit then reports "No known vulnerabilities found"
having checked nothing), print a warning saying so and exit 0: an outage of the
advisory service must not block every change. Set SOLIDARITY_AUDIT_STRICT=1 to
make those cases fail too. Arguments are passed on to pip-audit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

WARNING = "WARNING: dependency audit incomplete:"


def classify(report: dict[str, Any]) -> tuple[int, list[str]]:
    """The exit code and the lines to print for a pip-audit JSON report."""
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = len(dependencies) - len(skipped)
    lines = []
    if vulnerable:
        for dep in vulnerable:
            for vuln in dep["vulns"]:
                fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
                aliases = ", ".join(vuln.get("aliases") or [])
                lines.append(
                    f"VULNERABLE: {dep['name']} {dep.get('version', '?')}: {vuln['id']}"
                    + (f" ({aliases})" if aliases else "")
                    + f"; fixed in {fixed}"
                )
        lines.append(f"{len(vulnerable)} vulnerable package(s) of {audited} audited")
        return 1, lines
    if dependencies and audited == 0:
        lines.append(
            f"{WARNING} the advisory service knew none of the {len(dependencies)} installed "
            "packages (first: "
            f"{skipped[0].get('skip_reason', '')}); nothing was audited. Is the index a "
            "mirror without vulnerability data? Run `make audit` where PyPI is reachable."
        )
        return (1 if _strict() else 0), lines
    lines.append(
        f"{audited} package(s) audited, no known vulnerabilities"
        + (f"; {len(skipped)} not audited (not on the advisory service)" if skipped else "")
    )
    return 0, lines


def _strict() -> bool:
    return os.environ.get("SOLIDARITY_AUDIT_STRICT", "").lower() in {"1", "true", "yes"}


def main(argv: list[str]) -> int:
    """Run pip-audit on this interpreter's environment and judge its report."""
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--skip-editable",
        *argv,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"{WARNING} pip-audit could not run: {exc}")
        return 1 if _strict() else 0
    try:
        report = json.loads(done.stdout)
    except ValueError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(
            f"{WARNING} pip-audit failed (exit {done.returncode}) before auditing anything, "
            f"most likely because the advisory service is unreachable: {last}"
        )
        return 1 if _strict() else 0
    code, lines = classify(report)
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
