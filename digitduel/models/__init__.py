"""digitduel.models"""
