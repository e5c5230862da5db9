package jobs

// NothingToDo is what a Kind's Plan returns when the job has nothing to do
// and can say why better than "the population is empty" (an import that was
// already reverted): the job ends COMPLETED_NO_BULKS with Reason as its
// message.
type NothingToDo struct {
	Reason string
}

func (e *NothingToDo) Error() string { return e.Reason }
