"""`genforge study`: the extra training behind report tables 6 (transfer) and 7 (other
datasets); it trains and scores through training/ and evaluation/, into studies/."""
