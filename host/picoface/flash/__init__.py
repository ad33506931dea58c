"""Flash a board: firmware and model with kflash (K210), app + config over the raw REPL.

``plan.build(board, port, ...) -> Plan`` checks every input; ``Plan.describe()`` is the
``--dry-run`` text; ``execute.execute(plan)`` runs it and checks the boot hello line.
"""
