"""``citewise ask QUESTION``: an answer with checked citations, as text, a token stream or one JSON object."""

from __future__ import annotations

import typer

from citewise.commands.common import (
    console,
    err_console,
    handle_errors,
    print_json,
    rerank_notice,
    settings,
    without_rerank,
)
from citewise.types import Answer, checked_names

EXIT_ABSTAINED = 4

HELP = """Answer a question from the indexed documents, citing them as [1], [2] with exact quotes.

The LLM comes from CITEWISE_GENERATION__LLM (extractive, openai, openai-like, ollama, anthropic) or --llm
(PROVIDER or PROVIDER:MODEL). The default, extractive, needs no LLM: it quotes the best-matching sentences.
Every answer sentence is checked against the passages it cites; when the evidence is too weak the answer
says the documents do not contain it and lists the closest sources.

Filters as in `citewise search`: doc_id=ID, source=PATH_PREFIX, file_type=pdf, tag=key=value,
modified_after=DATE, modified_before=DATE.

Exit codes: 0 answered; 4 abstained (the documents do not contain the answer); 2 bad arguments or settings
(unknown prompt, missing model/key/URL); 1 the index, a model or the LLM failed (unreachable, timeout).
"""


@handle_errors
def ask(
    question: str = typer.Argument(..., help="The question."),
    k: int = typer.Option(5, "--k", min=1, max=50, help="How many passages to retrieve."),
    filters: list[str] = typer.Option([], "--filter", help="key=value filter; repeatable."),
    llm: str = typer.Option(None, "--llm", help="PROVIDER or PROVIDER:MODEL (default: CITEWISE_GENERATION__LLM)."),
    prompt: str = typer.Option(None, "--prompt", help="NAME@VERSION (default: CITEWISE_GENERATION__PROMPT)."),
    stream: bool = typer.Option(False, "--stream", help="Print tokens as they come (ignored with --json)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (answer, citations, sentences...)."),
    tenant: str = typer.Option("default", "--tenant", help="Answer only from this tenant's documents."),
    groups: list[str] = typer.Option(
        [], "--group", help="Read as a member of this ACL group (repeatable); without it, ACLs are not checked."
    ),
    collection: str = typer.Option(None, "--collection", help="Collection (default: CITEWISE_QDRANT__COLLECTION)."),
    no_rerank: bool = typer.Option(False, "--no-rerank", help="Skip the cross-encoder reranker."),
) -> None:
    from generation import Answerer, answer_json
    from retrieval import Retriever, access_filter, parse_filter_args

    cfg = settings()
    if no_rerank:
        cfg = without_rerank(cfg)
    flt = access_filter(tenant, checked_names(groups, "--group") if groups else None) & parse_filter_args(filters)
    retriever = Retriever.from_settings(cfg, collection)
    try:
        rerank_notice(retriever)
        answerer = Answerer.from_settings(cfg, retriever)
        if stream and not as_json:
            answer = None
            for event in answerer.stream(question, k=k, filters=flt, llm=llm, prompt=prompt):
                if event.kind == "token":
                    console.out(event.data, end="", highlight=False)
                elif event.kind == "error":
                    err_console.print(f"\n[red]error ({event.data['code']}):[/red] {event.data['message']}")
                    raise typer.Exit(1)
                elif event.kind == "done":
                    answer = event.data
            console.out("")
            assert answer is not None
        else:
            answer = answerer.answer(question, k=k, filters=flt, llm=llm, prompt=prompt)
    finally:
        retriever.index.close()
    if as_json:
        print_json(answer_json(answer))
    else:
        _print(answer, streamed=stream)
    if answer.abstained:
        raise typer.Exit(EXIT_ABSTAINED)


def _print(answer: Answer, streamed: bool) -> None:
    if streamed:
        console.print("[dim]verified answer:[/dim]")
    console.print(answer.answer, highlight=False)
    flagged = [s for s in answer.sentences if not s.supported]
    for s in flagged:
        console.print(f"[yellow]unsupported:[/yellow] {s.text}", highlight=False)
    console.print()
    for c in answer.citations:
        page = f", p. {c.page}" if c.page is not None else ""
        quote = " ".join(c.quote.split())
        console.print(
            f"[bold][{c.n}][/bold] {c.title or c.source} ({c.source}{page}, chars {c.char_start}-{c.char_end})"
        )
        console.print(f'    "{quote[:300]}{"…" if len(quote) > 300 else ""}"', highlight=False, style="dim")
    u = answer.usage
    console.print(
        f"{answer.model} · {answer.prompt} · tokens {u.prompt_tokens}+{u.completion_tokens}"
        f"{' (est.)' if u.estimated else ''} · ${u.cost_usd:.6f} · "
        + " · ".join(f"{name} {ms:.0f} ms" for name, ms in answer.timings_ms.items()),
        style="dim",
    )


def register(root: typer.Typer) -> None:
    root.command("ask", help=HELP)(ask)
