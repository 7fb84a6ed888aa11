"""The repository explains itself: the README's first command runs on files in the clone, CI runs the
README's test command, and no doc or comment points at notes outside the repository."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from muvi_plugin import media

REPO = Path(__file__).resolve().parents[1]
CREDIT = "Big Buck Bunny, © Blender Foundation, peach.blender.org, CC-BY 3.0"


def quick_start() -> list[str]:
    """The command lines of the README's first code block (comments dropped)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block is not None, "README.md has no bash block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_the_first_command_scores_a_clip_in_the_repository():
    first = quick_start()[0]
    (score,) = [part for part in first.split("&&") if part.split()[:2] == ["muvi", "score"]]
    video = REPO / shlex.split(score)[2]
    assert video.resolve().is_relative_to(REPO), f"{video} is outside the repository"
    info = media.probe(video)
    assert info.has_video and 10.0 <= info.duration <= 13.0
    assert video.stat().st_size < 1_000_000
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", str(video)], cwd=REPO, capture_output=True
    )
    assert tracked.returncode == 0, f"{video} is not committed: a fresh clone would not have it"


def test_the_sample_clip_carries_its_credit():
    assert CREDIT in (REPO / "examples" / "README.md").read_text(encoding="utf-8")
    assert CREDIT in (REPO / "README.md").read_text(encoding="utf-8")


def test_ci_runs_the_readme_test_command():
    readme = quick_start()[1]
    ci = [
        line for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines() if "pytest" in line
    ]
    assert len(ci) == 1 and readme.endswith(ci[0].split(">/dev/null && ", 1)[-1]), (readme, ci)
    for step in ("ruff check .", "mypy", "python -m pytest -q"):
        assert f"&& {step}" in readme


def test_no_file_points_at_notes_outside_the_repository():
    outside = re.compile(
        r"\b(DESIGN|STYLE|PAPER|INTEGRATIONS)\.md\b|shared/(DESIGN|STYLE|PAPER|INTEGRATIONS)"
    )
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    hits = []
    for name in files.splitlines():
        path = REPO / name
        if (
            path.suffix in (".py", ".md", ".toml", ".txt")
            and path.is_file()
            and path.name != Path(__file__).name
        ):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if outside.search(line):
                    hits.append(f"{name}:{number}: {line.strip()}")
    assert not hits, "references to notes outside the repository (use docs/):\n" + "\n".join(hits)
