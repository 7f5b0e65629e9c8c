"""Another git revision's package, for the before/after rows (``python -m bench --compare-ref REF``).

Only the package's source is taken from that revision (``git archive``, read-only on the
repository: no worktree, no index, nothing of anyone's working tree touched), into
``.venvs/bench-ref-<sha>/``, made once and reused. Its workers run on the same interpreter as
this tree's provider rows, with that directory first on ``sys.path`` (and as their working
directory, which ``python -m`` puts before everything else), so that the two differ by the
package's code alone: same SDK, same emulator (this tree's), same bench. The package lived in
``src/keep_openaiassistant/`` before the core redesign and in ``keep_openaiassistant/`` after;
both layouts are found.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .processes import ROOT

VENVS = ROOT / ".venvs"
PACKAGE = "keep_openaiassistant"
LAYOUTS = (f"src/{PACKAGE}", PACKAGE)


@dataclass(frozen=True)
class Revision:
    ref: str  # as given on the command line, e.g. a7ae094
    sha: str
    import_root: Path  # the directory holding that revision's keep_openaiassistant/

    @property
    def package(self) -> Path:
        return self.import_root / PACKAGE


def _git(*args: str, repo: Path) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ValueError(f"git {' '.join(args)}: {done.stderr.strip() or 'failed'}")
    return done.stdout.strip()


def subject(sha: str, *, repo: Path = ROOT) -> str:
    """The first line of that commit's message."""
    return _git("log", "-1", "--format=%s", sha, repo=repo)


def checkout(ref: str, *, repo: Path = ROOT, into: Path = VENVS) -> Revision:
    """That revision's package under ``into``; ValueError says why not (unknown ref, no package)."""
    try:
        sha = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", repo=repo)
    except ValueError:
        raise ValueError(f"{ref!r} is not a commit of {repo} (a shallow clone lacks old ones)") from None
    inside = next((p for p in LAYOUTS if _git("ls-tree", "-d", sha, p, repo=repo)), None)
    if inside is None:
        raise ValueError(f"{ref} ({sha[:12]}) has no {' or '.join(LAYOUTS)}")
    target = into / f"bench-ref-{sha[:12]}"
    revision = Revision(ref, sha, target / Path(inside).parent)
    if (target / ".complete").exists():
        return revision
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", sha, inside], capture_output=True, check=True
    ).stdout
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=into))
    try:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            if hasattr(tarfile, "data_filter"):  # Python 3.11.4+; git's own archive either way
                tar.extractall(staging, filter="data")
            else:
                tar.extractall(staging)
        (staging / ".complete").write_text(f"{sha}\n")
        if target.exists():  # a copy left half-made by an interrupted run
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return revision
