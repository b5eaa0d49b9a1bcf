"""An optional second opinion: any OpenAI-compatible chat endpoint re-scores the local candidates.

The local analysis proposes a pool of non-overlapping candidates; the model rates each 0-100 with
a reason and a title. The final score blends the model's rating with the local score, so the model
re-ranks the pool but a wild rating cannot bury a strong local candidate entirely. Every failure
(no answer in time, HTTP errors, an answer that is not the JSON asked for, missing clips) raises
:class:`LLMUnavailable` with a message a person understands, after the configured retries.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence

import httpx
from pydantic import BaseModel, Field, SecretStr, ValidationError

from clipforge.shared.models import Highlight

log = logging.getLogger(__name__)

# Share of the final score that comes from the model; the rest is the local score.
LLM_WEIGHT = 0.7
RETRY_BACKOFF_SECONDS = 0.5
MAX_TEXT_CHARS = 1500
MAX_TITLE_CHARS = 80

SYSTEM_PROMPT = (
    "You judge short clips cut from a longer video for social media. For each clip, rate from 0 to 100 "
    "how likely a viewer is to watch it to the end and share it: a strong opening hook, a self-contained "
    "point that needs no context, a clear payoff. Reply with JSON only, in this form: "
    '{"clips": [{"id": 1, "score": 73, "reason": "one short sentence", "title": "at most eight words"}]}, '
    "with one entry for every clip id you were given."
)


class LLMConfig(BaseModel):
    base_url: str = Field(description="e.g. http://127.0.0.1:8080/v1; /chat/completions is appended.")
    model: str
    api_key: SecretStr | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    retries: int = Field(default=2, ge=0)


class LLMVerdict(BaseModel):
    id: int
    score: float = Field(ge=0.0, le=100.0)
    reason: str = ""
    title: str = ""


class LLMAnswer(BaseModel):
    clips: list[LLMVerdict]


class LLMUnavailable(Exception):
    """The endpoint could not rate the clips; ``str()`` says why, for people."""


class _Retryable(Exception):
    pass


class LLMScorer:
    def __init__(self, config: LLMConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self._transport = transport

    @property
    def name(self) -> str:
        return f"llm:{self.config.model}"

    async def rescore(self, highlights: Sequence[Highlight]) -> list[Highlight]:
        """The highlights re-scored by the model, best first."""
        if not highlights:
            return []
        verdicts = await self._verdicts(highlights)
        rescored = [_apply(highlight, verdicts[index], self.config.model) for index, highlight in enumerate(highlights)]
        order = sorted(range(len(rescored)), key=lambda i: (-rescored[i].score, -highlights[i].score, i))
        return [rescored[i] for i in order]

    async def _verdicts(self, highlights: Sequence[Highlight]) -> dict[int, LLMVerdict]:
        request = _request_body(self.config.model, highlights)
        attempts = self.config.retries + 1
        headers = {"Content-Type": "application/json"}
        if self.config.api_key is not None:
            headers["Authorization"] = f"Bearer {self.config.api_key.get_secret_value()}"
        url = self.config.base_url.rstrip("/") + "/chat/completions"
        problem = ""
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(self.config.timeout_seconds), transport=self._transport, headers=headers
        ) as client:
            for attempt in range(attempts):
                if attempt:
                    await asyncio.sleep(RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1))
                try:
                    answer = await self._ask(client, url, request)
                    return _check_complete(answer, len(highlights))
                except _Retryable as error:
                    problem = str(error)
                    log.warning("LLM scorer attempt %d of %d failed: %s", attempt + 1, attempts, problem)
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        raise LLMUnavailable(f"{problem} ({tries})")

    async def _ask(self, client: httpx.AsyncClient, url: str, request: dict[str, object]) -> LLMAnswer:
        try:
            response = await client.post(url, json=request)
        except httpx.TimeoutException:
            raise _Retryable(f"no answer within {self.config.timeout_seconds:g} s") from None
        except httpx.TransportError as error:
            raise _Retryable(f"could not reach the endpoint ({type(error).__name__})") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"the endpoint answered HTTP {response.status_code}")
        if response.status_code >= 400:
            # A refusal (bad key, unknown model) will not change on a retry.
            raise LLMUnavailable(f"the endpoint refused the request with HTTP {response.status_code}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
            return LLMAnswer.model_validate(json.loads(_json_object(content)))
        except (ValueError, KeyError, IndexError, TypeError, ValidationError):
            raise _Retryable("the model's answer was not the JSON rating that was asked for") from None


def _request_body(model: str, highlights: Sequence[Highlight]) -> dict[str, object]:
    clips = [
        {"id": index + 1, "seconds": round(h.duration, 1), "text": h.text[:MAX_TEXT_CHARS]}
        for index, h in enumerate(highlights)
    ]
    return {
        "model": model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": json.dumps({"clips": clips}, ensure_ascii=False)},
        ],
    }


def _json_object(content: str) -> str:
    """The outermost {...} of a reply, which models often wrap in prose or a code fence."""
    start, end = content.find("{"), content.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the reply")
    return content[start : end + 1]


def _check_complete(answer: LLMAnswer, count: int) -> dict[int, LLMVerdict]:
    """Verdicts by position (0-based); every clip must have one."""
    verdicts = {v.id - 1: v for v in answer.clips if 1 <= v.id <= count}
    missing = [str(i + 1) for i in range(count) if i not in verdicts]
    if missing:
        raise _Retryable(f"the model's answer left out clip(s) {', '.join(missing)}")
    return verdicts


def _apply(highlight: Highlight, verdict: LLMVerdict, model: str) -> Highlight:
    score = round(LLM_WEIGHT * verdict.score + (1.0 - LLM_WEIGHT) * highlight.score, 1)
    opinion = verdict.reason.strip() or "no reason given"
    if not opinion.endswith((".", "!", "?")):
        opinion += "."
    title = " ".join(verdict.title.split())[:MAX_TITLE_CHARS] or highlight.title
    return highlight.model_copy(
        update={
            "score": score,
            "reason": f"{model} rates it {verdict.score:.0f}/100: {opinion} Local analysis {highlight.score:.0f}: "
            f"{highlight.reason}",
            "title": title,
            "sub_scores": {**highlight.sub_scores, "llm": round(verdict.score, 1)},
        }
    )
