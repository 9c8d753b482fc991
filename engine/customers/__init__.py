"""The customer's side of an application: the milestones a customer knows, the notices sent at the moments
they must know of, the qualified firms list (三不指定), the independent 回访 after power on, complaints and
confidential reports.

Plugged in like every feature: step hooks (notices at acceptance and at marked tasks; the 回访 opened at
power on) and a gate marker (``customerNotice``); the write path never names it.
"""
