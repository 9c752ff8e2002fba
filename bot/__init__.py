"""Cầu Nối: the two-way channel between the Youth Union and young people."""
