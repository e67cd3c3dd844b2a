"""The chain-of-thought prompt (appendix A) and the teacher's answer: its schema, parsing and repair."""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cotvtm_desktop import config


class VisualElementsText(BaseModel):
    object: str
    emotion: str
    dynamic: str
    color: str


class MusicElementsText(BaseModel):
    genre: str
    instruments: list[str] = Field(min_length=1)
    emotion: str
    rhythm: str

    @field_validator("instruments", mode="before")
    @classmethod
    def _split_string(cls, value):  # "piano, strings" is a common way to answer a list
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


class CoTAnswer(BaseModel):
    """The output schema of appendix A."""

    model_config = ConfigDict(populate_by_name=True)
    image_description: str
    step1_reasoning: str = Field(alias="step1 reasoning")
    visual_elements: VisualElementsText = Field(alias="visual elements")
    visual_description: str = Field(alias="visual description")
    step2_reasoning: str = Field(alias="step2 reasoning")
    music_elements: MusicElementsText = Field(alias="music elements")
    step3_reasoning: str = Field(alias="step3 reasoning")
    music_description: str = Field(alias="music description", min_length=10)

    def rationale_text(self, fields: tuple[str, ...]) -> str:
        """X_rt: the latent information taken from the rationale (which parts is a setting)."""
        parts = {"step1": self.step1_reasoning, "visual_elements": json.dumps(self.visual_elements.model_dump()),
                 "visual_description": self.visual_description, "step2": self.step2_reasoning,
                 "music_elements": json.dumps(self.music_elements.model_dump()), "step3": self.step3_reasoning}
        return " ".join(parts[name] for name in fields)


class BadAnswer(ValueError):
    """The teacher's answer could not be read as the schema, even after repair."""


@lru_cache(maxsize=1)
def prompt_sections() -> dict[str, str]:
    text = config.resource_path("cot_prompt.md").read_text(encoding="utf-8")
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^## (\w+)\n(.*?)(?=^## |\Z)", text, re.M | re.S)}


def prompt_version() -> str:
    return hashlib.sha256(json.dumps(prompt_sections(), sort_keys=True).encode()).hexdigest()[:12]


def build_prompt(caption: str) -> list[dict]:
    """P_CoT = [expert][task][steps][example][caption] as chat messages."""
    s = prompt_sections()
    return [{"role": "system", "content": s["expert"]},
            {"role": "user", "content": "\n\n".join([s["task"], s["steps"], "Example:\n" + s["example"],
                                                     s["caption"].replace("{caption}", caption.strip())])}]


def parse_answer(text: str) -> CoTAnswer:
    """Read the teacher's reply, repairing the usual faults: code fences, text around the JSON, trailing commas,
    smart quotes."""
    candidate = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", candidate, re.S)
    if fenced:
        candidate = fenced.group(1)
    start, end = candidate.find("{"), candidate.rfind("}")
    if start < 0 or end <= start:
        raise BadAnswer("no JSON object in the reply")
    candidate = candidate[start:end + 1]
    candidate = candidate.replace("\u201c", '"').replace("\u201d", '"')
    candidate = re.sub(r",\s*([}\]])", r"\1", candidate)
    try:
        data = json.loads(candidate)
    except json.JSONDecodeError as exc:
        raise BadAnswer(f"not valid JSON even after repair ({exc.msg} at character {exc.pos})") from None
    try:
        return CoTAnswer.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:4])
        raise BadAnswer(f"does not follow the schema ({problems})") from None
