"""digitduel.data"""
