"""Learning on one node's data: the learner protocol and shared base, batch stream, torch and numpy learners, models, personalisation, the learner factory."""
