"""Imported last by the side runs' fork server (:data:`mcsens.workers.PRELOAD`): freeze its heap.

Everything the server imported is moved to the collector's permanent generation
(``gc.freeze``), so no collection walks it again. That spares the server's own exit,
when the run ends: tearing down its modules ran collections over all of them, 0.6 s of
one core after the run's directory was printed, during which the server still held the
command's standard output and error open (a pipeline reading them waited). It spares the
workers it forks too: their collections skip the inherited objects instead of touching
(and copying) every page that holds one.

Only the fork server imports this module; importing it anywhere else would keep every
object alive at that moment for good.
"""

import gc

gc.freeze()
