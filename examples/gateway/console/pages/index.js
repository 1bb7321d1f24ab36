// Every page the console offers, in menu order. The shell shows those whose
// requires(session) holds. Add a page: import it and put it in the list.
import { page as account } from './account.js';

export const pages = [account];
