"""The controls file: framework controls (SOC 2 CC8.1, ISO/IEC 27001:2022 A.8.32, …) mapped to the
policy's requirements, and how many changes of a population met each. An editable example ships as
`controls.example.yaml` (not legal advice).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from governance.requirements import REQUIREMENTS

EXAMPLE = Path(__file__).with_name("controls.example.yaml")
Requirement = Literal["approvals", "evidence", "contract", "staged_rollout", "reviewed_flow", "exceptions", "verified"]
assert set(Requirement.__args__) == set(REQUIREMENTS)  # type: ignore[attr-defined]


class ControlsError(ValueError):
    """The controls file is missing or invalid; the message names the file and the problem."""


class Control(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    framework: str = ""
    title: str = ""
    requirements: list[Requirement] = Field(min_length=1)


class Controls(BaseModel):
    model_config = ConfigDict(extra="forbid")

    controls: list[Control]


def load_controls(path: Path | None = None) -> tuple[Controls, str]:
    """The controls of a YAML file (the shipped example when none is given), and the file's text."""
    source = path or EXAMPLE
    try:
        text = source.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except OSError as exc:
        raise ControlsError(f"cannot read controls file {source}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ControlsError(f"controls file {source} is not valid YAML: {exc}") from exc
    try:
        return Controls.model_validate(data), text
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ControlsError(f"controls file {source} is invalid: {problems}") from exc
