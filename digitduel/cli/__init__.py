"""digitduel.cli"""
