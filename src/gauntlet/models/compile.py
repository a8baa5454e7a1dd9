"""``model.compile=true``: a network's ``forward_embedded`` compiled in place, eager as fallback.

Compiling the method rather than wrapping the module keeps the network a plain Network: its
``embed``/``forward_embedded`` split, which training, attacks and attributions call, and its
state-dict keys stay as they are. Compilation is lazy: the first call compiles and logs how long
it took. Where nothing compiles (no C++ compiler, an unsupported Python, a network Dynamo cannot
trace such as the LSTM/GRU) the network says so once and runs eager.
"""

from __future__ import annotations

import logging
import time
import types

import torch

from gauntlet.models.base import Network

log = logging.getLogger(__name__)


def compile_network(net: Network) -> None:
    """Replace ``net.forward_embedded`` by its compiled version; nothing if already done."""
    if "forward_embedded" in vars(net):  # compiled by an earlier fit of the same module
        return
    eager = type(net).forward_embedded
    name = type(net).__name__
    try:
        compiled = torch.compile(eager)
    except Exception as err:  # torch.compile refuses up front (unsupported Python, ...)
        log.warning("model.compile=true: torch.compile is unavailable (%s); running eager", err)
        return
    state = {"fn": compiled, "first": True}

    def first_call(self_net: Network, e: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        from gauntlet.compat.torch import dynamo_graphs

        graphs = dynamo_graphs()
        started = time.perf_counter()
        out = compiled(self_net, e, mask)
        state["first"] = False
        if dynamo_graphs() == graphs:  # Dynamo skipped the function
            state["fn"] = eager
            log.warning("model.compile=true: torch.compile captured no graph of %s; eager", name)
        else:
            log.info(
                "model.compile=true: %s compiled in %.1f s", name, time.perf_counter() - started
            )
        return out

    def forward_embedded(
        self_net: Network, e: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if state["fn"] is eager:
            return eager(self_net, e, mask)
        try:
            return first_call(self_net, e, mask) if state["first"] else compiled(self_net, e, mask)
        except Exception as err:  # the backend failed to compile: say why, go on eager
            state["fn"] = eager
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
            log.warning(
                "model.compile=true: compiling %s failed (%s: %s); running eager",
                name,
                type(err).__name__,
                first_line,
            )
            return eager(self_net, e, mask)

    # bound with MethodType so that a deep copy of the network binds to the copy
    net.forward_embedded = types.MethodType(forward_embedded, net)
    log.info("model.compile=true: %s.forward_embedded will compile on its first call", name)
