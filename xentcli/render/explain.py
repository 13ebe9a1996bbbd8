"""The report of ``xent explain``: one row worked through, as a Rich view and as JSON."""

from __future__ import annotations

import json
from typing import Any

from xentcli.config import Base
from xentcli.render.common import fmt, plain_line, plain_table


def explain_json(e: Any) -> str:
    return json.dumps(e.to_dict(), indent=2, allow_nan=False) + "\n"


def explain_steps(e: Any) -> list[str]:
    """The worked example, one line a step, like a textbook."""
    u = e.unit
    log = {"nats": "ln", "bits": "log2", "hartleys": "log10"}[u]
    steps = []
    if e.logits is not None:
        if len(e.logits) == 1:
            steps.append(
                f"p = sigmoid(z) = 1 / (1 + exp(-{fmt(e.logits[0])})) = "
                f"{fmt(e.probs[1])}; the two classes get 1 - p and p"
            )
        else:
            steps.append(
                "p = softmax(z): exp(z_c - max z) / sum_k exp(z_k - max z) "
                "(shifting by the max changes nothing and never overflows)"
            )
    if e.label is not None:
        k = e.label
        if e.logits is not None and len(e.logits) > 1:
            # from the logits: p itself may print as 0 (a logit 800 below the max)
            base = next(b for b in Base if b.unit == u)
            in_unit = "" if base is Base.e else f" / ln {base.value}"
            nats = e.surprisal[k] * base.log
            steps.append(
                f"surprisal of the true class '{e.classes[k]}': -{log} p = "
                f"(logsumexp(z) - z_y){in_unit} = ({fmt(nats + e.logits[k])} - "
                f"{fmt(e.logits[k])}){in_unit} = {fmt(e.surprisal[k])} {u}"
            )
        else:
            steps.append(
                f"surprisal of the true class '{e.classes[k]}': -{log} p = "
                f"-{log} {fmt(e.probs[k])} = {fmt(e.surprisal[k])} {u}"
            )
    steps.append(
        f"entropy of the prediction: H(p) = sum_c p_c * (-{log} p_c) = "
        f"{fmt(e.entropy)} {u}  (the model's own uncertainty)"
    )
    if e.label is None:
        steps.append(f"entropy of the target: H(y) = {fmt(e.target_entropy)} {u}")
    steps.append(f"cross-entropy: H(y, p) = sum_c y_c * (-{log} p_c) = {fmt(e.cross_entropy)} {u}")
    steps.append(
        f"KL divergence: KL(y || p) = H(y, p) - H(y) = {fmt(e.cross_entropy)} - "
        f"{fmt(e.target_entropy)} = {fmt(e.kl)} {u}"
    )
    steps.append(f"loss of this row = H(y, p) = {fmt(e.loss)} {u}")
    grad = ", ".join(fmt(g) for g in e.gradient)
    steps.append(f"gradient of the loss (in nats) with respect to the logits: p - y = [{grad}]")
    if e.binary:
        steps.append(f"for a single logit z: d loss / d z = sigmoid(z) - y = {fmt(e.gradient[1])}")
    return steps


class ExplainView:
    """``xent explain`` for people: the row as a table, then the worked steps."""

    def __init__(self, e: Any) -> None:
        self.e = e

    def __rich_console__(self, console: Any, options: Any) -> Any:
        e = self.e
        from rich import box

        table = plain_table(
            title=f"xent explain: one row, in {e.unit}", title_justify="left", box=box.SIMPLE_HEAD
        )
        table.add_column("class")
        if e.logits is not None and len(e.logits) == len(e.probs):
            table.add_column("logit z", justify="right")
        table.add_column("p", justify="right")
        table.add_column("y", justify="right")
        table.add_column("-log p", justify="right")
        table.add_column("y * -log p", justify="right")
        table.add_column("p - y", justify="right")
        for k, name in enumerate(e.classes):
            y = e.target[k]
            term = 0.0 if y == 0 else y * e.surprisal[k]
            cells = [name]
            if e.logits is not None and len(e.logits) == len(e.probs):
                cells.append(fmt(e.logits[k]))
            cells += [fmt(e.probs[k]), fmt(y), fmt(e.surprisal[k]), fmt(term), fmt(e.gradient[k])]
            table.add_row(*cells)
        yield table
        for i, step in enumerate(explain_steps(e), start=1):
            yield plain_line(f"{i}. {step}")
