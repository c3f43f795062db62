"""digitduel.report"""
