"""digitduel.training"""
