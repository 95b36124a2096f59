"""Generated demo datasets that look like a company's own: support tickets and a chat fine-tuning set.

Seeded, so every demo home gets the same rows. The tickets carry what a profile should catch: PII in some
bodies, exact and near duplicates, a long tail of lengths, missing satisfaction scores.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

PRODUCTS = ["Billing", "Mobile app", "Web dashboard", "API", "Integrations", "Account"]
CHANNELS = ["email", "chat", "phone", "web form"]
TIERS = ["free", "pro", "business", "enterprise"]
FIRST_NAMES = ["Maria", "Jonas", "Aiko", "Samir", "Lena", "Tom", "Priya", "Carlos", "Eva", "Noah", "Fatima", "Lars"]
LAST_NAMES = ["Schmidt", "Okafor", "Tanaka", "Haddad", "Novak", "Berg", "Sharma", "Garcia", "Rossi", "Keller"]

ISSUES = {
    "Billing": [
        ("Charged twice this month", "I was charged twice for my {tier} subscription this month. Could you refund the duplicate payment?"),
        ("Invoice shows the wrong company name", "Our invoice for {month} shows the wrong company name and VAT number. We need a corrected invoice for our accounts team."),
        ("Cannot update credit card", "When I try to update my card the page says 'payment method declined' although the card works everywhere else."),
    ],
    "Mobile app": [
        ("App crashes on start", "Since the last update the app crashes right after the splash screen on my {device}. I already reinstalled it."),
        ("Notifications stopped", "I no longer get push notifications for new messages, although they are enabled in the settings."),
        ("Login loop on Android", "After entering my password the app returns to the login screen again and again."),
    ],
    "Web dashboard": [
        ("Export to CSV is empty", "Exporting the monthly report to CSV gives a file with only the header row."),
        ("Dashboard loads very slowly", "The analytics dashboard takes more than a minute to load for our workspace with {n} projects."),
        ("Charts show wrong time zone", "All charts are shifted by one hour; our workspace is set to Europe/Berlin."),
    ],
    "API": [
        ("429 errors below the rate limit", "We receive HTTP 429 responses although we send about {n} requests per minute, well below our plan's limit."),
        ("Webhook signatures do not verify", "The HMAC signatures on webhook calls stopped verifying yesterday; nothing changed on our side."),
        ("Pagination skips records", "When paging through /v2/orders with a page size of 100, some records never appear."),
    ],
    "Integrations": [
        ("Slack integration disconnected", "Our Slack integration keeps disconnecting every few hours and has to be re-authorised."),
        ("Salesforce sync duplicates contacts", "Every sync with Salesforce creates duplicate contacts in our account."),
    ],
    "Account": [
        ("Reset password link expired", "The password reset link says it expired although I clicked it within a minute."),
        ("Add a second admin", "How can I make a colleague an admin of our {tier} workspace?"),
        ("Delete my account and data", "Please delete my account and all personal data you hold about me."),
    ],
}
REPLIES = [
    "Thanks for reaching out, {name}. I have checked your account and {fix}. Let us know if anything else comes up.",
    "Hi {name}, sorry for the trouble. {fix_cap}. I have also added a note to your account so the team knows.",
    "Hello {name}, thank you for the details. {fix_cap}. This should take effect within a few minutes.",
]
FIXES = ["refunded the duplicate charge", "issued a corrected invoice", "reset your session tokens",
         "escalated the issue to our engineering team", "re-enabled the integration", "fixed the export settings"]
DEVICES = ["Pixel 8", "iPhone 15", "Galaxy S23", "iPad Air"]
MONTHS = ["January", "February", "March", "April", "May", "June"]
GREETINGS = ["Hi,", "Hello team,", "Good morning,", "Hi there,", "Dear support,", "", "Hey,"]
CONTEXT = [
    "This started on {day}.", "It is blocking our month-end close.", "Two of my colleagues see the same.",
    "We are on the {tier} plan.", "It worked fine last week.", "This is the third time I write about this.",
    "Screenshots are attached.", "Our workspace id is ws-{n}.", "It happens in Chrome and Firefox.",
    "Please treat this as urgent.", "No rush, just wanted to let you know.", "I followed the help article already.",
    "", "", "",
]
SIGN_OFFS = ["Thanks, {first}", "Best regards,\n{full}", "Cheers, {first}", "{full}", "Thank you!", "Kind regards, {full}"]
LONG_CONTEXT = (" For context, here is what we tried so far: we cleared the cache, tried another browser, asked two "
                "colleagues to reproduce it on their machines, and checked the status page, which showed no incident. "
                "We also went through the troubleshooting guide step by step and collected the logs below.")


def _pii_snippet(rng: np.random.Generator, name: str) -> str:
    first, last = name.split()
    choice = rng.integers(0, 6)
    if choice == 0:
        return f" You can reach me at {first.lower()}.{last.lower()}@example.com."
    if choice == 1:
        return f" Please call me back on +49 30 {rng.integers(1000000, 9999999)}."
    if choice == 2:
        return " The card ending in the charge is 4111 1111 1111 1111."
    if choice == 3:
        return " Refund to my account DE89 3704 0044 0532 0130 00 please."
    if choice == 4:
        return f" Our server's address is 203.0.113.{rng.integers(1, 254)}."
    return f" My phone is (555) {rng.integers(200, 999)}-{rng.integers(1000, 9999)}."


def support_tickets(rows: int = 3000, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    records = []
    start = pd.Timestamp("2026-06-01T08:00:00Z")
    for i in range(rows):
        product = PRODUCTS[rng.integers(0, len(PRODUCTS))]
        subject, body = ISSUES[product][rng.integers(0, len(ISSUES[product]))]
        tier = TIERS[rng.choice(4, p=[0.4, 0.3, 0.2, 0.1])]
        name = f"{FIRST_NAMES[rng.integers(0, len(FIRST_NAMES))]} {LAST_NAMES[rng.integers(0, len(LAST_NAMES))]}"
        text = body.format(tier=tier, month=MONTHS[rng.integers(0, 6)], device=DEVICES[rng.integers(0, 4)],
                           n=int(rng.integers(20, 900)))
        extra = CONTEXT[rng.integers(0, len(CONTEXT))].format(day=f"June {rng.integers(1, 29)}", tier=tier,
                                                              n=int(rng.integers(1000, 99999)))
        greeting = GREETINGS[rng.integers(0, len(GREETINGS))]
        text = " ".join(part for part in (greeting, text, extra) if part)
        if rng.random() < 0.12:
            text += _pii_snippet(rng, name)
        # Long tail: a few tickets paste logs or long histories.
        if rng.random() < 0.08:
            text += LONG_CONTEXT * int(rng.integers(1, 4))
        if rng.random() < 0.02:
            text += "\n" + "\n".join(f"2026-06-{rng.integers(1, 29):02d} ERROR request id {rng.integers(1e8, 1e9)} "
                                     f"failed with status 500" for _ in range(int(rng.integers(20, 80))))
        text += "\n" + SIGN_OFFS[rng.integers(0, len(SIGN_OFFS))].format(first=name.split()[0], full=name)
        fix = FIXES[rng.integers(0, len(FIXES))]
        reply = REPLIES[rng.integers(0, len(REPLIES))].format(name=name.split()[0], fix=fix, fix_cap=fix[0].upper() + fix[1:])
        records.append({
            "ticket_id": f"T-{100000 + i}",
            "created_at": (start + pd.Timedelta(minutes=int(i * 37 + rng.integers(0, 30)))).isoformat(),
            "channel": CHANNELS[rng.integers(0, len(CHANNELS))],
            "product": product,
            "customer_tier": tier,
            "priority": ["low", "normal", "high", "urgent"][rng.choice(4, p=[0.3, 0.45, 0.2, 0.05])],
            "subject": subject,
            "body": text,
            "agent_reply": reply,
            "resolution_minutes": float(np.round(rng.lognormal(4, 1), 1)) if rng.random() > 0.05 else None,
            "csat": int(rng.integers(1, 6)) if rng.random() < 0.35 else None,
        })
    frame = pd.DataFrame(records)
    # Customers write twice: about 6% of tickets are exact copies of an earlier one's text.
    copies = rng.choice(rows, size=rows // 16, replace=False)
    sources = rng.choice(rows, size=len(copies))
    frame.loc[copies, ["subject", "body"]] = frame.loc[sources, ["subject", "body"]].to_numpy()
    frame["csat"] = frame["csat"].astype("Int64")
    return frame


SYSTEM_PROMPT = "You are Acme's support assistant. Answer briefly, politely and precisely."


def chat_finetune_set(rows: int = 400, seed: int = 11) -> pd.DataFrame:
    """A chat-format fine-tuning set distilled from resolved tickets, with a few broken conversations."""
    tickets = support_tickets(rows, seed)
    records = []
    for i, ticket in enumerate(tickets.itertuples()):
        messages = [{"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": f"{ticket.subject}. {ticket.body}"},
                    {"role": "assistant", "content": ticket.agent_reply}]
        if i % 5 == 0:
            messages += [{"role": "user", "content": "Thanks! How long will it take?"},
                         {"role": "assistant", "content": "It usually takes one to two business days."}]
        # Real exports have mistakes: a reply missing, an empty answer.
        if i % 97 == 13:
            messages = messages[:2]
        if i % 89 == 7:
            messages[2] = {"role": "assistant", "content": "  "}
        records.append({"messages": messages, "source_ticket": ticket.ticket_id, "product": ticket.product})
    return pd.DataFrame(records)
