"""红字确认单, red invoices, paper voids and refund-driven red-flush (issue #5, domain.md §11, §8.3, §8.4, §12).

One module per part, each importing only those above it in this list:

* ``lines``: red-line arithmetic (what is left of each blue line; red lines that fit in it), no database.
* ``policy``: who may raise and decide forms, and each entity's red-flush settings.
* ``blue``: the blue invoice a form works on (its units, what forms hold of it, its open forms) and the row locks.
* ``application_moves``: the application and its billing documents following the forms (红冲中, back, 已红冲).
* ``red_invoices``: recording the red invoice of an effective form, with the blue invoice's move.
* ``sync``: the platform's side: sending forms, applying its answers, polling, forms our buyers raise.
* ``forms``: our side: request, submit, confirm, reject, revoke, discard.
* ``voids``: voiding a 数电纸票 in its month, or a red form instead.
* ``refunds``: refunds on billing documents turned into forms, once per refund.
"""
