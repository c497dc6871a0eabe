"""Prompt templates as files. A template's version id is its name plus a hash of its text, so
an edited prompt gets a new id and every label records which prompt produced it."""

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROMPT_DIR = Path(__file__).parent
SECTION = re.compile(r"^### (system|user|assistant)\n", re.MULTILINE)


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    system: str
    user: str
    assistant_prefix: str  # the reply is continued from here ("Grade: ")

    def messages(self, **fields) -> list[dict]:
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user.format(**fields)},
        ]


@lru_cache
def prompt_load(name: str) -> Prompt:
    text = (PROMPT_DIR / f"{name}.txt").read_text()
    parts = SECTION.split(text)[1:]
    sections = dict(zip(parts[::2], parts[1::2], strict=True))
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return Prompt(
        name=name,
        version=f"{name}@{digest}",
        system=sections["system"].strip(),
        user=sections["user"].strip(),
        # Keep the prefix's trailing space: the grade digit follows it directly.
        assistant_prefix=sections.get("assistant", "").rstrip("\n"),
    )
