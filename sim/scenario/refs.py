"""Event references: what `after:` and a milestone's `on:` can name.

A reference is an event id, or `Product[/Region[/Indication]]` for that product's launch
(anywhere, in a region, in one market). The checks use it to validate a scenario; the engine
to find the trigger an event waits for.
"""

from __future__ import annotations

from sim.errors import did_you_mean
from sim.scenario.schema import Scenario


def parse_ref(ref: str, scn: Scenario) -> tuple[str, tuple[str, ...]] | str:
    """Resolve an event reference to ('launch', (product, region?, indication?)) or ('event', (id,)).

    Returns an error message string when the reference does not resolve.
    """
    if "/" in ref:
        parts = [p.strip() for p in ref.split("/")]
        prod = parts[0]
        if prod not in scn.products:
            return f"unknown product '{prod}' in reference '{ref}'{did_you_mean(prod, scn.products)}"
        p = scn.products[prod]
        if len(parts) >= 2 and parts[1] not in p.regions:
            return (f"product '{prod}' has no launches in region '{parts[1]}'{did_you_mean(parts[1], p.regions)}"
                    f" (reference '{ref}')")
        if len(parts) == 3 and parts[2] not in p.regions[parts[1]].launches:
            return (f"product '{prod}' has no launch in {parts[1]}/{parts[2]}"
                    f"{did_you_mean(parts[2], p.regions[parts[1]].launches)} (reference '{ref}')")
        if len(parts) > 3:
            return f"a launch reference is Product[/Region[/Indication]], got '{ref}'"
        return ("launch", tuple(parts))
    if ref in scn.events:
        return ("event", (ref,))
    if ref in scn.products:
        return ("launch", (ref,))
    return (f"unknown event or product '{ref}'{did_you_mean(ref, set(scn.events) | set(scn.products))}; "
            "expected an event id, or Product[/Region[/Indication]] for its launch")


def trigger_name(ref: str, scn: Scenario) -> str:
    """The engine's trigger for a valid reference: 'launch:P[/R[/I]]' or 'event:ID'."""
    res = parse_ref(ref, scn)
    if isinstance(res, str):
        raise ValueError(res)
    kind, parts = res
    return ("launch:" if kind == "launch" else "event:") + "/".join(parts)
