"""digitduel.bench"""
