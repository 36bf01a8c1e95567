"""At the counter: acceptance, decline, payment, void, receipts and the day's takings."""
