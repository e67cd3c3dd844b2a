"""Teachers that answer the CoT prompt: an OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp
server), or the procedural rules (`--teacher rules`), which emit the same schema with no LLM at all."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache

from cotvtm_desktop import config
from cotvtm_desktop.errors import UserError
from cotvtm_desktop.reasoning.cot import CoTAnswer, build_prompt, parse_answer


@dataclass
class Reply:
    answer: CoTAnswer
    tokens: int


class LLMTeacher:
    """Chat completions with JSON mode where the server has it. Retries with exponential backoff on 429, 5xx,
    connection errors and timeouts are the openai client's own (`max_retries`)."""

    def __init__(self, base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY", timeout: float = 120.0,
                 max_retries: int = 5, json_mode: bool = True):
        from openai import OpenAI

        key = os.environ.get(api_key_env, "")
        if not key and "api.openai.com" in base_url:
            raise UserError(f"no API key: set the environment variable {api_key_env} (it is never logged)")
        self.name = f"llm:{model}"
        self.model, self.json_mode = model, json_mode
        self.client = OpenAI(base_url=base_url, api_key=key or "not-needed", timeout=timeout,
                             max_retries=max_retries)

    def complete(self, messages: list[dict]) -> str:
        """Plain text from the chat endpoint (used to write scene descriptions from templates)."""
        response = self.client.chat.completions.create(model=self.model, messages=messages, temperature=0.9)
        return (response.choices[0].message.content or "").strip()

    def ask(self, caption: str) -> Reply:
        import openai

        kwargs = {"response_format": {"type": "json_object"}} if self.json_mode else {}
        try:
            response = self.client.chat.completions.create(model=self.model, messages=build_prompt(caption),
                                                           temperature=0.7, **kwargs)
        except openai.BadRequestError:
            if not self.json_mode:
                raise
            self.json_mode = False  # a server without JSON mode: ask plainly, the parser repairs what comes back
            return self.ask(caption)
        text = response.choices[0].message.content or ""
        tokens = response.usage.total_tokens if response.usage else 0
        return Reply(parse_answer(text), tokens)


@lru_cache(maxsize=1)
def _lexicon() -> dict:
    return json.loads(config.resource_path("caption_lexicon.json").read_text())


class RulesTeacher:
    """The procedural reasoner as a teacher: words in the caption stand in for measured colour, motion and objects,
    then resources/music_rules.json decides the music. Every answer says it was made by rules."""

    name = "rules"

    def ask(self, caption: str) -> Reply:
        from cotvtm_desktop.analysis.objects import ObjectTags
        from cotvtm_desktop.analysis.visual import VisualElements, estimate_emotion
        from cotvtm_desktop.reasoning.rules import reason

        words = set(re.findall(r"[a-z]+", caption.lower()))
        lexicon = _lexicon()

        def level(name: str, default: float) -> float:
            hits = [value for word, value in lexicon[name].items() if word in words]
            return sum(hits) / len(hits) if hits else default

        brightness, saturation = level("brightness", 0.5), level("saturation", 0.35)
        warmth, motion = level("warmth", 0.0), level("motion", 0.3)
        scenes = {lexicon["scenes"][w]: 1.0 for w in words if w in lexicon["scenes"]}
        valence, arousal = estimate_emotion(brightness, saturation, warmth, motion)
        valence = min(1.0, max(0.0, valence + level("valence_shift", 0.0)))
        palette = [w for w in ("red", "orange", "yellow", "green", "blue", "purple", "pink", "white", "black")
                   if w in words] or ["grey"]
        visual = VisualElements(brightness, saturation, warmth, palette, motion, 0.0,
                                ObjectTags([(w, 1.0) for w in sorted(words & set(lexicon["scenes"]))] or
                                           [("scene", 1.0)], scenes), valence, arousal)
        brief = reason(visual)
        seen = visual.words()
        answer = CoTAnswer.model_validate({
            "image_description": caption,
            "step1 reasoning": "Rule-based teacher: visual elements read from the caption's words.",
            "visual elements": {"object": ", ".join(seen["object"]), "emotion": ", ".join(seen["emotion"]),
                                "dynamic": ", ".join(seen["dynamic"]), "color": ", ".join(seen["color"])},
            "visual description": caption,
            "step2 reasoning": "Rule-based teacher: music elements from resources/music_rules.json.",
            "music elements": {"genre": brief.genre, "instruments": brief.instruments,
                               "emotion": ", ".join(brief.emotion), "rhythm": brief.rhythm},
            "step3 reasoning": "Rule-based teacher: the description combines the music elements.",
            "music description": brief.description()})
        return Reply(answer, 0)
