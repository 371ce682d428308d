DROP TABLE IF EXISTS {db}.utterances
