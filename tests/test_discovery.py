"""link / unlink / entry inspection on a stand-in Keep providers folder (no Keep needed).

Doctor against a real Keep is in tests/keep/.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from keep_openaiassistant import discovery
from keep_openaiassistant.cli import main
from keep_openaiassistant.discovery import ENTRY, SHIM_DIR, DiscoveryError, inspect_entry, link, unlink

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def providers(tmp_path: Path) -> Path:
    """keep/providers/ as in a Keep source checkout: a regular package with provider folders."""
    folder = tmp_path / "keep" / "providers"
    (folder / "openai_provider").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    return folder


def test_link_creates_a_symlink_to_the_shim(providers: Path) -> None:
    message = link(providers)
    entry = providers / ENTRY
    assert entry.is_symlink() and entry.resolve() == SHIM_DIR
    assert (entry / f"{ENTRY}.py").is_file() and (entry / "__init__.py").is_file()
    assert message.startswith(f"Linked {entry} -> {SHIM_DIR}.")
    assert inspect_entry(providers).kind == "link"


def test_link_twice_is_a_no_op(providers: Path) -> None:
    link(providers)
    assert link(providers) == f"Already linked: {providers / ENTRY} -> {SHIM_DIR}"


def test_unlink_removes_only_our_link(providers: Path) -> None:
    link(providers)
    assert unlink(providers).startswith(f"Removed {providers / ENTRY}")
    assert not (providers / ENTRY).exists()
    assert (providers / "openai_provider").is_dir()
    assert SHIM_DIR.is_dir(), "the link's target is untouched"


def test_unlink_without_a_link_is_a_no_op(providers: Path) -> None:
    assert unlink(providers) == f"Nothing to unlink: {providers / ENTRY} does not exist."


def test_link_refuses_to_replace_a_foreign_folder(providers: Path) -> None:
    (providers / ENTRY).mkdir()
    (providers / ENTRY / f"{ENTRY}.py").write_text("class OpenaiassistantProvider: ...\n")
    with pytest.raises(DiscoveryError, match="is not keep-openaiassistant's: not touching it"):
        link(providers)
    with pytest.raises(DiscoveryError, match="is not keep-openaiassistant's link: not touching it"):
        unlink(providers)
    assert (providers / ENTRY / f"{ENTRY}.py").is_file()


def test_a_folder_the_wheel_installed_is_left_to_pip(providers: Path) -> None:
    wheel_copy = providers / ENTRY
    wheel_copy.mkdir()
    for f in SHIM_DIR.glob("*.py"):
        (wheel_copy / f.name).write_text(f.read_text())
    assert inspect_entry(providers).kind == "wheel"
    assert link(providers).startswith("Nothing to do: ")
    with pytest.raises(DiscoveryError, match="pip uninstall keep-openaiassistant"):
        unlink(providers)


def test_a_stale_link_is_reported_and_unlink_removes_it(providers: Path, tmp_path: Path) -> None:
    (providers / ENTRY).symlink_to(tmp_path / "gone", target_is_directory=True)
    assert inspect_entry(providers).kind == "stale-link"
    with pytest.raises(DiscoveryError, match="run unlink, then link"):
        link(providers)
    unlink(providers)
    assert not (providers / ENTRY).is_symlink()


def test_a_link_to_another_copy_of_this_package_is_recognised(providers: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-checkout" / "keep_adapter" / "shim"
    other.mkdir(parents=True)
    for f in SHIM_DIR.glob("*.py"):
        (other / f.name).write_text(f.read_text())
    (providers / ENTRY).symlink_to(other, target_is_directory=True)
    assert inspect_entry(providers).kind == "foreign-link"
    unlink(providers)
    assert link(providers).startswith("Linked ")


def test_a_folder_that_is_not_keeps_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DiscoveryError, match="is not Keep's providers folder"):
        link(tmp_path)


def test_cli_link_and_unlink_exit_codes(providers: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["link", "--providers-dir", str(providers)], stdout=out, stderr=err) == 0
    assert main(["unlink", "--providers-dir", str(providers)], stdout=out, stderr=err) == 0
    (providers / ENTRY).mkdir()
    assert main(["link", "--providers-dir", str(providers)], stdout=out, stderr=err) == 1
    assert err.getvalue().startswith(f"error: {providers / ENTRY} exists and is not keep-openaiassistant's")


def test_link_without_keep_says_how_to_point_at_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discovery, "keep_providers_dir", lambda: None)
    with pytest.raises(DiscoveryError, match=r"Keep is not importable from this Python .*--providers-dir"):
        link()


def test_the_wheel_maps_the_shim_into_keeps_folder() -> None:
    # pyproject's force-include is what puts the provider where Keep looks (discovery A).
    import tomllib

    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"][
        "force-include"
    ]
    assert mapping == {
        "keep_openaiassistant/keep_adapter/shim/__init__.py": f"keep/providers/{ENTRY}/__init__.py",
        f"keep_openaiassistant/keep_adapter/shim/{ENTRY}.py": f"keep/providers/{ENTRY}/{ENTRY}.py",
        f"keep_openaiassistant/{ENTRY}.yaml": f"keep/providers/{ENTRY}/{ENTRY}.yaml",
    }
    for source in mapping:
        assert (ROOT / source).is_file()


def test_the_shim_folder_is_in_the_keep_adapter_and_holds_what_the_wheel_maps() -> None:
    package = ROOT / "keep_openaiassistant"
    assert package / "keep_adapter" / "shim" == SHIM_DIR
    assert sorted(f.name for f in SHIM_DIR.glob("*.py")) == ["__init__.py", f"{ENTRY}.py"]
    assert not (package / "keep_shim").exists() and not (package / "keep_provider.py").exists()


def test_a_copy_from_a_release_before_keep_adapter_is_still_ours(providers: Path) -> None:
    # An old wheel's keep/providers/openaiassistant_provider/ imported keep_openaiassistant.keep_provider.
    old = providers / ENTRY
    old.mkdir()
    (old / "__init__.py").write_text("")
    (old / f"{ENTRY}.py").write_text(
        "from keep_openaiassistant.keep_provider import OpenaiassistantProvider, OpenaiassistantProviderAuthConfig\n"
    )
    assert inspect_entry(providers).kind == "wheel"


def test_the_shim_only_re_exports() -> None:
    text = (SHIM_DIR / f"{ENTRY}.py").read_text()
    assert "from keep_openaiassistant.keep_adapter.provider import OpenaiassistantProvider, " in text


def test_a_regular_install_links_the_wheels_own_folder(
    providers: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # hatchling moves force-included files: a regular install has no keep_adapter/shim/, only the
    # wheel's site-packages/keep/providers/openaiassistant_provider/.
    wheel_copy = tmp_path / "site-packages" / "keep" / "providers" / ENTRY
    wheel_copy.mkdir(parents=True)
    for f in SHIM_DIR.glob("*.py"):
        (wheel_copy / f.name).write_text(f.read_text())
    monkeypatch.setattr(discovery, "SHIM_DIR", tmp_path / "not-installed" / "keep_adapter" / "shim")
    monkeypatch.setattr(discovery, "wheel_entry_dirs", lambda: [wheel_copy])
    assert link(providers) == (
        f"Linked {providers / ENTRY} -> {wheel_copy.resolve()}. "
        "Restart Keep (and rebuild its providers cache) to see it in the UI."
    )
    assert inspect_entry(providers).kind == "link"
    unlink(providers)


def test_link_without_any_shim_says_reinstall(providers: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discovery, "SHIM_DIR", tmp_path / "not-installed" / "keep_adapter" / "shim")
    monkeypatch.setattr(discovery, "wheel_entry_dirs", lambda: [])
    with pytest.raises(DiscoveryError, match="reinstall it"):
        link(providers)


# -- doctor's verdict on the provider folder (the Keep-importing steps are in tests/keep) -------


def entry_check(providers: Path) -> tuple[bool, discovery.Check]:
    report = discovery.Report()
    ok = discovery.check_entry(report, providers)
    return ok, report.checks[-1]


def test_doctor_explains_a_wheel_that_landed_outside_a_source_keep(
    providers: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "site-packages" / "keep" / "providers" / ENTRY
    elsewhere.mkdir(parents=True)
    monkeypatch.setattr(discovery, "wheel_entry_dirs", lambda: [elsewhere])
    ok, check = entry_check(providers)
    assert not ok and check.ok is False
    assert check.detail.startswith(
        f"{providers / ENTRY} is missing; the wheel put its files at {elsewhere}, but the Keep "
    )
    assert check.fix.startswith("python -m keep_openaiassistant link")


def test_doctor_flags_a_stale_link_with_the_fix(providers: Path, tmp_path: Path) -> None:
    (providers / ENTRY).symlink_to(tmp_path / "gone", target_is_directory=True)
    ok, check = entry_check(providers)
    assert not ok
    assert check.detail.endswith("which no longer exists")
    assert check.fix == "python -m keep_openaiassistant unlink && python -m keep_openaiassistant link"


def test_doctor_warns_when_the_installed_copy_is_an_old_snapshot(providers: Path) -> None:
    copy = providers / ENTRY
    copy.mkdir()
    for f in SHIM_DIR.glob("*.py"):
        (copy / f.name).write_text(f.read_text())
    (copy / f"{ENTRY}.py").write_text("from keep_openaiassistant.keep_provider import OpenaiassistantProvider  # old\n")
    ok, check = entry_check(providers)
    assert ok and check.ok is None, "Keep still finds it: a warning, not a failure"
    assert f"differs from this package's keep_adapter/shim in {ENTRY}.py" in check.detail


def test_doctor_accepts_our_link(providers: Path) -> None:
    link(providers)
    ok, check = entry_check(providers)
    assert ok and check.ok is True and check.detail.endswith("(link)")


def test_report_render_marks_and_verdict() -> None:
    report = discovery.Report()
    report.add(True, "a", "fine")
    report.add(False, "b", "broken", "do this")
    report.exit_code = discovery.NOT_FOUND
    assert report.render() == (
        "ok    a: fine\nFAIL  b: broken\n      fix: do this\n"
        "Keep does not find provider type 'openaiassistant': see FAIL above."
    )


def test_doctor_flags_an_sdk_that_cannot_build_a_client(monkeypatch: pytest.MonkeyPatch) -> None:
    import openai

    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("Client.__init__() got an unexpected keyword argument 'proxies'")

    monkeypatch.setattr(openai, "OpenAI", broken)
    report = discovery.Report()
    assert discovery.check_sdk(report) is False
    check = report.checks[-1]
    assert (check.ok, check.title) == (False, "openai SDK")
    assert check.detail.endswith(
        "cannot build a client: TypeError: Client.__init__() got an unexpected keyword argument 'proxies'"
    )
    assert check.fix.startswith("pip install 'httpx<0.28'")


def test_doctor_reports_the_sdk_versions() -> None:
    import openai

    report = discovery.Report()
    assert discovery.check_sdk(report) is True
    assert report.checks[-1].detail.startswith(f"openai {openai.__version__}")
