"""`pledge policy check` on broken input: exit 1, a located plain message, never a traceback."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

FIXTURES = Path(__file__).parent / "fixtures"
MINIMAL = (FIXTURES / "minimal.yaml").read_text(encoding="utf-8")


def run_check(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("policy", "check", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def mutate(change) -> str:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(MINIMAL)
    change(data)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


BROKEN: dict[str, tuple[bytes, str]] = {
    # name: (file content, a fragment the message must contain)
    "truncated": (
        MINIMAL[: MINIMAL.index("  address:") + 30].encode(),
        "cannot be parsed",
    ),
    "binary": (bytes(range(256)) * 4, "binary file"),
    "top_level_list": (b"- shop: a\n- shop: b\n", "must be a mapping"),
    "unknown_key": (
        mutate(lambda d: d["purposes"][0].update(rolez=["owner"])).encode(),
        "purposes[0]: unknown key 'rolez' (did you mean 'roles'?)",
    ),
    "undeclared_field": (
        mutate(lambda d: d["purposes"][0]["fields"].append("emial")).encode(),
        "purposes[0].fields[3]: unknown field 'emial' (did you mean 'email'?)",
    ),
    "negative_duration": (
        mutate(
            lambda d: d.update(
                retention=[
                    {
                        "key": "profile",
                        "records": ["profile"],
                        "period": {"kind": "duration", "amount": -5, "unit": "days"},
                    }
                ]
            )
        ).encode(),
        "retention[0].period.amount: Input should be greater than 0",
    ),
    "wrong_type": (
        mutate(lambda d: d["purposes"][0].update(fields="full_name")).encode(),
        "purposes[0].fields: expected a list, found 'full_name'",
    ),
    "empty": (b"", "the file is empty"),
    "comments_only": (b"# nothing here\n\n", "the file is empty"),
    "not_utf8": ("name: Cà phê\n".encode("cp1258"), "not UTF-8"),
    "ten_megabytes": (b"# padding\n" * 1_100_000, "at most 1 MB"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_policy_exits_1_with_a_located_message(case: str, tmp_path: Path) -> None:
    content, expected = BROKEN[case]
    path = tmp_path / f"{case}.yaml"
    path.write_bytes(content)
    code, out, err = run_check(str(path))
    assert code == 1
    assert expected in err
    assert str(path) in err
    assert "Traceback" not in err + out


@pytest.mark.parametrize("case", ["truncated", "unknown_key", "undeclared_field", "binary"])
def test_the_line_of_the_problem_is_named(case: str, tmp_path: Path) -> None:
    content, _ = BROKEN[case]
    path = tmp_path / "p.yaml"
    path.write_bytes(content)
    _, _, err = run_check(str(path))
    located = re.search(r": line \d+: ", err)
    if case == "binary":
        assert located is None  # nothing sensible to point at
    else:
        assert located is not None, err


def test_json_report_of_an_invalid_policy(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(BROKEN["undeclared_field"][0])
    code, out, _ = run_check(str(path), "--json")
    assert code == 1
    report = json.loads(out)
    assert report["valid"] is False
    assert report["errors"][0]["location"] == "purposes[0].fields[3]"
    assert isinstance(report["errors"][0]["line"], int)


def test_a_valid_policy_exits_0() -> None:
    code, out, err = run_check(str(FIXTURES / "minimal.yaml"))
    assert code == 0, err
    assert "valid" in out


def test_an_unknown_preset_names_the_presets() -> None:
    code, _, err = run_check("leman-jewellery")
    assert code == 1
    assert "did you mean the preset 'leman-jewelry'" in err


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    def change(d: dict) -> None:  # type: ignore[type-arg]
        d["purposes"][0]["basis"] = "because"
        d["purposes"][0]["roles"] = ["cashier"]
        d["languages"] = "vi"

    path = tmp_path / "p.yaml"
    path.write_text(mutate(change), encoding="utf-8")
    code, _, err = run_check(str(path))
    assert code == 1
    assert "purposes[0].basis" in err
    assert "languages" in err


@pytest.mark.parametrize("case", ["binary", "top_level_list", "ten_megabytes", "not_utf8"])
def test_the_pledge_command_never_shows_a_traceback(case: str, tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(BROKEN[case][0])
    env = {**os.environ, "PLEDGE_VAR_DIR": str(tmp_path / "var")}
    proc = subprocess.run(
        [sys.executable, "-m", "pledge", "policy", "check", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert BROKEN[case][1] in proc.stderr
    assert "Traceback" not in proc.stderr
