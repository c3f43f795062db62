"""digitduel.tui"""
