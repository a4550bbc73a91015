"""Performance and accuracy gates of the suite, and the measurements behind them."""
