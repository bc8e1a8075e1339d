"""Results of matrix runs and the reports made from them.

``model``      results.json: one record per test x target, one per target
``collector``  the pytest side: records and live progress from one target's
               run; ``collector.announce(phase)`` tells the live view what a
               target is doing before its first test
``plan``       target patterns, shards, how many targets at once
``progress``   the ``harness run`` side: reads progress, draws the live view
``text``, ``markdown``, ``html``  renderings of a :class:`model.RunResults`
``compare``    baseline vs current: regressions, fixes, changed messages
``merge``      shards' (or targets') results joined into one
"""
