"""The name and call-back contact a person gives to send with their name: asked once in a
submission, kept in their profile, changed or removed from /settings."""

from bot.domain.contact import clean_contact, clean_name
from bot.domain.i18n import text
from bot.domain.messages import Choice, Inbound, InputKind, Reply
from handlers import flows
from handlers.context import Context
from handlers.flows import Flow, Outcome, Step, advance, jump, stay
from handlers.steps import rows, text_of

TEXT = flows.Accept.TEXT
NAME_SETTINGS = "name_settings"
SEND_ANONYMOUSLY = "name:anonymous"
SKIP_CONTACT = "contact:skip"


def known_name(ctx: Context, display_name: str | None) -> str | None:
    """The name a named submission carries: the one they typed wins over a channel's."""
    return ctx.profile.given_name or display_name


def ask_name(ctx: Context) -> list[Reply]:
    """Their name, with a way out: sending anonymously instead."""
    choices = ((Choice(SEND_ANONYMOUSLY, "profile_name.send_anonymously"),),)
    return [Reply("profile_name.ask", choices=choices)]


def take_name(event: Inbound, ctx: Context, then: str | None) -> Outcome | None:
    """A typed name, kept if valid; then the contact question (`then`) or on."""
    typed = text_of(event) if event.kind is InputKind.TEXT else None
    if typed is None:
        return None
    name = clean_name(typed)
    if name is None:
        return stay(Reply("profile_name.invalid"))
    ctx.profile.given_name = name
    thanks = Reply("profile_name.kept", {"name": name})
    return jump(then, thanks) if then else advance(thanks)


def ask_contact(ctx: Context) -> list[Reply]:
    """An optional phone number or e-mail for a call-back."""
    return [Reply("profile_name.contact_ask", choices=((Choice(SKIP_CONTACT, "common.skip"),),))]


def take_contact(event: Inbound, ctx: Context) -> Outcome | None:
    """A phone number or e-mail, normalised; Skip leaves it as it is."""
    if event.choice == SKIP_CONTACT:
        return advance()
    typed = text_of(event) if event.kind is InputKind.TEXT else None
    if typed is None:
        return None
    contact = clean_contact(typed)
    if contact is None:
        return stay(Reply("profile_name.contact_invalid"))
    ctx.profile.contact = contact
    return advance(Reply("profile_name.contact_kept", {"contact": contact}))


def privacy_line(ctx: Context, choice: str, display_name: str | None) -> str:
    """The preview's privacy line: the choice, and the name (and contact) it carries."""
    name = known_name(ctx, display_name)
    if name is None:
        return choice
    if not ctx.profile.contact:
        return text("profile_name.privacy_line", ctx.language, choice=choice, name=name)
    values = {"choice": choice, "name": name, "contact": ctx.profile.contact}
    return text("profile_name.privacy_contact", ctx.language, **values)


# ---- /settings: "Name and contact" ------------------------------------------------------


def show(ctx: Context) -> list[Reply]:
    """The name and contact kept, with buttons to change or remove them."""
    unset = text("common.not_set", ctx.language)
    values = {"name": ctx.profile.given_name or unset, "contact": ctx.profile.contact or unset}
    choices = [
        Choice("set:name:change", "profile_name.change_name"),
        Choice("set:name:contact", "profile_name.change_contact"),
        Choice("set:name:remove", "profile_name.remove"),
        Choice("menu:settings", "profile_name.back"),
    ]
    return [Reply("profile_name.summary", values, choices=rows(choices, 2))]


def on_settings_choice(what: str, ctx: Context) -> list[Reply] | None:
    """A button of the settings entry ("set:name", "set:name:…")."""
    if what == "name":
        return show(ctx)
    if what == "name:change":
        return flows.enter(ctx, NAME_SETTINGS_FLOW, "name")
    if what == "name:contact":
        return flows.enter(ctx, NAME_SETTINGS_FLOW, "contact")
    if what == "name:remove":
        ctx.profile.given_name = ctx.profile.contact = None
        return [Reply("profile_name.removed"), *show(ctx)]
    return None


def _ask_settings_name(ctx: Context) -> list[Reply]:
    return [Reply("profile_name.ask")]


def _settings_name(event: Inbound, ctx: Context) -> Outcome | None:
    return take_name(event, ctx, None)


NAME_SETTINGS_FLOW = flows.register(
    Flow(
        NAME_SETTINGS,
        (
            Step("name", _ask_settings_name, _settings_name, frozenset({TEXT})),
            Step("contact", ask_contact, take_contact, frozenset({TEXT}), ("contact",)),
        ),
        done=show,
        editing=flows.always,
    )
)
