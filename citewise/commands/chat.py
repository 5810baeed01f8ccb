"""``citewise chat``: a conversation in the terminal (or from piped stdin), over the same code as the API's."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import typer

from citewise.commands.common import (
    EXIT_ENV,
    EXIT_OK,
    EXIT_USAGE,
    console,
    err_console,
    handle_errors,
    print_json,
    read_scope,
)
from citewise.commands.handoff import find_server
from citewise.errors import CitewiseError, InvalidRequest, NotFound

OWNER = "local"  # the owner of conversations started here (API conversations belong to an API key)
COMMANDS = {
    "/sources": "the citations of the last answer, with their quotes",
    "/history": "this conversation's questions, as asked and as rewritten",
    "/new": "start a new conversation",
    "/list": "your recent conversations (resume one with --conversation ID)",
    "/help": "these commands",
    "/quit": "leave (or Ctrl-D)",
}

HELP = f"""Ask questions with follow-ups: "and when did it end?" is rewritten into a standalone question from the
earlier turns (by the configured LLM, else by a fixed rule; see docs/generation.md), answered with checked
citations as `citewise ask` does, and kept in the data dir (CITEWISE_CONVERSATIONS__* settings).

One message per line; lines starting with / are commands:
{chr(10).join(f"  {name:9} {what}" for name, what in COMMANDS.items())}

Reads stdin, so it can be scripted: printf 'Who was Rollo?\\nwhen did he die?\\n/sources\\n' | citewise chat

A message that fails (too long, or the LLM times out) is reported and the session goes on. Exit codes: 0 all
answered (abstentions included); 2 a message or argument was refused (too long, unknown --conversation, bad
settings); 1 the index, a model or the LLM failed for a message.
"""


@handle_errors
def chat(
    conversation: str = typer.Option(None, "--conversation", help="Resume this conversation (its id)."),
    k: int = typer.Option(5, "--k", min=1, max=50, help="How many passages to retrieve."),
    filters: list[str] = typer.Option([], "--filter", help="key=value filter (as in `citewise ask`); repeatable."),
    llm: str = typer.Option(None, "--llm", help="PROVIDER or PROVIDER:MODEL (default: CITEWISE_GENERATION__LLM)."),
    prompt: str = typer.Option(None, "--prompt", help="NAME@VERSION (default: CITEWISE_GENERATION__PROMPT)."),
    as_json: bool = typer.Option(False, "--json", help="Print each answered message as one JSON object per line."),
    tenant: str = typer.Option("default", "--tenant", help="Answer only from this tenant's documents."),
    groups: list[str] = typer.Option([], "--group", help="Read as a member of this ACL group (repeatable)."),
    collection: str = typer.Option(None, "--collection", help="Collection (default: CITEWISE_QDRANT__COLLECTION)."),
    no_rerank: bool = typer.Option(False, "--no-rerank", help="Skip the cross-encoder reranker."),
) -> None:
    from citewise.conversations import ConversationStore
    from generation import Answerer, answer_json
    from generation.conversation import Conversations
    from generation.providers import build_chat_model
    from retrieval import Retriever

    cfg, flt = read_scope(no_rerank, tenant, groups, filters)
    store = ConversationStore(cfg.data_dir, cfg.conversations)
    retriever = None
    try:
        if conversation is not None:
            try:
                store.get(conversation, tenant, OWNER)  # an unknown id fails before the models load
            except NotFound as exc:
                raise InvalidRequest(f"--conversation: {exc.message}; see /list for yours") from None
        server = find_server(cfg)
        if server is not None:  # the server that owns the data dir answers; the conversation is kept here
            scope = {"groups": groups or None, "collection": collection or cfg.qdrant.collection}
            body = {"k": k, "filters": filters, "llm": llm, "prompt": prompt, "tenant": tenant, **scope}
            body["rerank"] = False if no_rerank else None

            def answer(question: str) -> dict[str, Any]:
                return dict(server.call("POST", "/v1/local/ask", json={"question": question, **body}))

            chat_model = build_chat_model(cfg.generation, None)
        else:
            retriever = Retriever.from_settings(cfg, collection)
            answerer = Answerer.from_settings(cfg, retriever)

            def answer(question: str) -> dict[str, Any]:
                return answer_json(answerer.answer(question, k=k, filters=flt, llm=llm, prompt=prompt))

            chat_model = answerer.default_chat
        session = Session(Conversations.from_settings(cfg, store, chat_model), tenant, answer, as_json, conversation)
        session.run(sys.stdin)
        if session.exit_code:
            raise typer.Exit(session.exit_code)
    finally:
        if retriever is not None:
            retriever.index.close()
        store.close()


class Session:
    """The REPL: one conversation at a time; ``/new`` starts another."""

    def __init__(
        self,
        conversations: Any,
        tenant: str,
        answer: Callable[[str], dict[str, Any]],
        as_json: bool,
        conversation_id: str | None,
    ) -> None:
        self.chat = conversations
        self.store = conversations.store
        self.tenant = tenant
        self.answer = answer
        self.as_json = as_json
        self.conversation_id = conversation_id
        self.last: dict[str, Any] | None = None
        self.exit_code = EXIT_OK  # a message that failed: reported, the session goes on; the exit code says so

    def run(self, lines: Any) -> None:
        interactive = lines.isatty()
        if interactive:
            err_console.print("citewise chat: ask a question; /help for commands, Ctrl-D to leave", style="dim")
        while True:
            if interactive:
                err_console.print("[bold]you>[/bold] ", end="")
            line = lines.readline()
            if not line:
                return
            text = line.strip()
            if not text:
                continue
            if text.startswith("/"):
                if not self.command(text):
                    return
                continue
            try:
                self.ask(text)
            except (InvalidRequest, NotFound) as exc:  # this message: too long, conversation full or gone
                err_console.print(f"[red]error:[/red] {exc.message}", highlight=False)
                self.exit_code = max(self.exit_code, EXIT_USAGE)
            except CitewiseError as exc:  # the index or the LLM failed for this message
                err_console.print(f"[red]error ({exc.code}):[/red] {exc.message}", highlight=False)
                self.exit_code = max(self.exit_code, EXIT_ENV)

    def ask(self, message: str) -> None:
        from generation.conversation import turn_json

        if self.conversation_id is None:
            self.conversation_id = self.store.create(self.tenant, OWNER).conversation_id
        cid = self.conversation_id
        rewrite = self.chat.prepare(cid, self.tenant, OWNER, message)
        data = self.answer(rewrite.standalone)
        turn = self.chat.record(cid, self.tenant, OWNER, rewrite, data)
        self.last = data
        if self.as_json:
            print_json({"conversation_id": cid, **turn_json(turn)})
            return
        if rewrite.changed:
            console.print(f"[dim]asked as:[/dim] {rewrite.standalone}", highlight=False)
        console.print(data["answer"], highlight=False)
        for s in data["sentences"]:
            if s["shown"] and s["reason"]:
                console.print(f"[yellow]{s['reason'].replace('_', ' ')}:[/yellow] {s['text']}", highlight=False)
        if data["citations"]:
            names = "; ".join(f"[{c['n']}] {c['title'] or c['source']}" for c in data["citations"])
            console.print(f"[dim]sources: {names} (/sources for the quotes)[/dim]", highlight=False)
        console.print()

    def command(self, text: str) -> bool:
        """Run a /command; False to leave."""
        from citewise.commands.ask import print_citations

        name = text.split()[0].lower()
        if name in ("/quit", "/exit"):
            return False
        if name == "/help":
            for cmd, what in COMMANDS.items():
                console.print(f"{cmd:9} {what}", highlight=False)
        elif name == "/new":
            self.conversation_id, self.last = None, None
            console.print("[dim]new conversation[/dim]")
        elif name == "/sources":
            if self.last is None or not self.last["citations"]:
                console.print("[dim]no sources yet: ask a question first[/dim]")
            else:
                print_citations(self.last["citations"])
        elif name == "/history":
            self.history()
        elif name == "/list":
            total, page = self.store.list(self.tenant, OWNER, 0, 20)
            for c in page:
                console.print(f"{c.conversation_id}  {c.turns:3} messages  {c.title}", highlight=False)
            console.print(f"[dim]{total} conversation(s)[/dim]")
        else:
            console.print(f"unknown command {name}; commands: {', '.join(COMMANDS)}", highlight=False)
        return True

    def history(self) -> None:
        if self.conversation_id is None:
            console.print("[dim]no messages yet[/dim]")
            return
        for turn in self.store.turns(self.conversation_id, self.tenant, OWNER):
            asked = f"  [dim](asked as: {turn.standalone})[/dim]" if turn.standalone != turn.question else ""
            console.print(f"{turn.n}. {turn.question}{asked}", highlight=False)
            console.print(f"   {turn.answer.get('answer', '')}", highlight=False, style="dim")


def register(root: typer.Typer) -> None:
    root.command("chat", help=HELP)(chat)
