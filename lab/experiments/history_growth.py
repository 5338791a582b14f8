"""A conversation grown turn by turn: each request re-sends all of it, so the bill is quadratic."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab.experiment import Bars, Facts, Finding, experiment

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

    from lab.context import Lab

QUESTIONS = (
    "I'm planning a week in Canada. Where should I start?",
    "I like mountains more than cities. Does that change it?",
    "How many days would you give Banff?",
    "Is it worth driving the Icefields Parkway to Jasper?",
    "What should I pack for September?",
    "Can I see wildlife safely on the way?",
    "Which city would you fly out of afterwards?",
    "Summarise the plan in three lines.",
)
FORECAST_TURNS = 50


@experiment(
    "history_growth",
    "History growth",
    f"A conversation of {len(QUESTIONS)} turns, the client appending each answer: prompt_tokens "
    "per request grows linearly, the total sent quadratically.",
    default=False,
)
def history_growth(lab: Lab) -> Finding:
    messages: list[ChatCompletionMessageParam] = []
    turns: list[dict[str, int | None]] = []
    for number, question in enumerate(QUESTIONS, 1):
        messages.append({"role": "user", "content": question})
        call = lab.chat(list(messages), doing=f"turn {number} of {len(QUESTIONS)}")
        messages.append({"role": "assistant", "content": call.content})
        usage = call.usage or {}
        turns.append(
            {
                "turn": number,
                "messages_sent": len(messages) - 1,
                "prompt_tokens": usage.get("prompt_tokens"),
                "completion_tokens": usage.get("completion_tokens"),
            }
        )
    data: dict[str, object] = {"questions": list(QUESTIONS), "turns": turns}
    prompts = [t["prompt_tokens"] for t in turns]
    if not all(isinstance(p, int) for p in prompts):
        return Finding.not_applicable(
            "the server reports no usage.prompt_tokens, so the growth cannot be measured", data
        )
    per_turn = [int(p) for p in prompts if p is not None]
    cumulative = [sum(per_turn[: i + 1]) for i in range(len(per_turn))]
    for turn, total in zip(turns, cumulative, strict=True):
        turn["cumulative_prompt_tokens"] = total
    intercept, slope, r2 = linear_fit(per_turn)
    n = len(per_turn)
    forecast = quadratic_total(intercept, slope, FORECAST_TURNS)
    data["fit"] = {
        "prompt_tokens_per_turn": {"intercept": intercept, "slope": slope, "r2": r2},
        "cumulative": f"{intercept:.1f}*n + {slope:.1f}*n*(n+1)/2",
        "cumulative_predicted_at_last_turn": round(quadratic_total(intercept, slope, n)),
        f"cumulative_predicted_at_{FORECAST_TURNS}_turns": round(forecast),
    }
    labels = tuple(f"turn {t}" for t in range(1, n + 1))
    show: list[Facts | Bars] = [
        Facts(
            "Each request re-sends the whole conversation",
            ("turn", "messages sent", "prompt_tokens", "completion_tokens", "cumulative sent"),
            tuple(
                (
                    str(t["turn"]),
                    str(t["messages_sent"]),
                    str(t["prompt_tokens"]),
                    str(t["completion_tokens"]),
                    str(t["cumulative_prompt_tokens"]),
                )
                for t in turns
            ),
        ),
        Bars("prompt_tokens per request", labels, tuple(per_turn), "tokens"),
        Bars("cumulative prompt tokens sent", labels, tuple(cumulative), "tokens"),
    ]
    if lab.plot is not None:
        from lab import plot

        plot.bars_and_line(
            lab.plot,
            title=f"History growth: {lab.model}, {n} turns",
            x_label="request (turn of the conversation)",
            labels=[str(t) for t in range(1, n + 1)],
            bars=per_turn,
            bar_label="prompt_tokens per request",
            line=cumulative,
            line_label="cumulative prompt tokens",
        )
        data["plot"] = str(lab.plot)
    explanation = [
        f"prompt_tokens grew from {per_turn[0]} to {per_turn[-1]} over {n} requests, about "
        f"{slope:.0f} tokens a turn (a straight-line fit, R² {r2:.3f}): every request carries "
        "every earlier question and answer again.",
        f"The total sent is a sum of growing terms, so it grows quadratically: "
        f"{cumulative[-1]} tokens after {n} turns (the fit says "
        f"{quadratic_total(intercept, slope, n):.0f}); at the same pace, {FORECAST_TURNS} "
        f"turns would send about {forecast:,.0f} prompt tokens in total.",
        "Per-token billing, prompt processing time and the context window all feel this: "
        "long chats get slower and dearer per turn, and eventually overflow "
        "(see context_overflow). A prefix cache saves compute on the repeated part, not "
        "the tokens counted.",
    ]
    if lab.plot is not None:
        explanation.append(f"Chart written to {lab.plot} ({lab.plot.suffix[1:].upper()}).")
    if slope <= 0:
        return Finding(
            data,
            [
                f"Unexpected: prompt_tokens did not grow with the history ({per_turn}). The "
                "server may report only uncached tokens, or drop history."
            ],
            show,
            status="unexpected",
        )
    figure = (
        f"prompt_tokens {per_turn[0]} → {per_turn[-1]} over {n} turns; "
        f"{cumulative[-1]:,} sent in total"
    )
    return Finding(data, explanation, show, figure=figure)


def linear_fit(values: list[int]) -> tuple[float, float, float]:
    """Least squares ``value ≈ intercept + slope * turn`` for turns 1..n, and R²."""
    n = len(values)
    xs = range(1, n + 1)
    mean_x, mean_y = (n + 1) / 2, sum(values) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, values, strict=True)) / sxx
    intercept = mean_y - slope * mean_x
    total = sum((y - mean_y) ** 2 for y in values)
    residual = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, values, strict=True))
    r2 = 1.0 - residual / total if total else 1.0
    return round(intercept, 2), round(slope, 2), round(r2, 4)


def quadratic_total(intercept: float, slope: float, turns: int) -> float:
    """The sum of ``intercept + slope * k`` for k = 1..turns."""
    return intercept * turns + slope * turns * (turns + 1) / 2
