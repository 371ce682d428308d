"""Protocol-faithful Asterisk 20/22 simulator (AMI + ARI + RTP) for tests, demos and benchmarks."""
