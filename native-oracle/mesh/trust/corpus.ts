/**
 * Public-domain sentences (19th-century novels, fables and essays) that golden-ticket contexts
 * start from. Tickets never replay users' prompts or completions: those were shown only to the
 * scouts their requests' floors allowed, and a probationary scout must never see them. Each
 * ticket cuts a random span of a sentence and lets the reference model continue it with a
 * random seed, so the context is not a fixed string a scout could look up. Operators can pass
 * their own corpus (`ticketCorpus`), which a scout cannot read in this repository.
 */
export const TICKET_CORPUS: readonly string[] = [
  'It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.',
  'It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness.',
  'Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse, I thought I would sail about a little.',
  'Happy families are all alike; every unhappy family is unhappy in its own way.',
  'The river flowed quietly past the old mill, and the miller sat by the door watching the water turn the wheel.',
  'A crow, half-dead with thirst, came upon a pitcher which had once been full of water.',
  'The wind and the sun were disputing which was the stronger, when a traveller came along the road.',
  'Once upon a time there lived a poor woodcutter with his wife and two children at the edge of a great forest.',
  'The quick brown fox jumps over the lazy dog, and the dog does not seem to mind at all.',
  'In the morning the fields were white with frost, and the farmer went out early to see to his sheep.',
  'Whenever I find myself growing grim about the mouth, I account it high time to get to sea as soon as I can.',
  'There was no possibility of taking a walk that day, for the cold winter wind had brought with it clouds so sombre.',
  'The hare laughed at the tortoise for being so slow, and the tortoise offered to run a race.',
  'The old man told the children a story about a ship that sailed beyond the edge of the known world.',
  'She walked along the river bank until she came to a small bridge of grey stone covered with moss.',
  'The town stood on a hill above the river, and its bells could be heard across the whole valley.',
  'Men at some time are masters of their fates: the fault is not in our stars, but in ourselves.',
  'All the world is a stage, and all the men and women merely players; they have their exits and their entrances.',
  'The night was dark and the road was long, but the traveller kept walking until he saw a light.',
  'A fox saw some fine bunches of grapes hanging from a vine that was trained along a high trellis.',
  'The schoolmaster was leaving the village, and everybody seemed sorry to see him go.',
  'It was a bright cold day in April, and the river ran high with the melted snow of the hills.',
  'The garden behind the house was full of roses, and in the evening their scent filled every room.',
  'He had been walking since dawn, and when he reached the inn he asked for bread, cheese and a fire.',
  'The ship came into the harbour at noon, and the whole town went down to the water to meet it.',
  'Knowledge is of two kinds: we know a subject ourselves, or we know where we can find information upon it.',
  'The lamp burned low on the table while the clerk copied the letters, one after another, into the book.',
  'A lion lay asleep in the forest, his great head resting on his paws, when a timid little mouse came upon him.',
  'The children ran down to the shore to see what the storm had washed up in the night.',
  'Far out in the ocean, where the water is as blue as the prettiest cornflower, lived the sea king.',
  'The doctor said that the patient needed rest, fresh air and a quiet room facing the garden.',
  'On the first day of the fair the square was crowded with carts, horses, merchants and musicians.',
  'The letter arrived on a Tuesday, and for three days nobody in the house dared to open it.',
  'There is nothing like a long walk in the country to clear the mind and set the heart at ease.',
  'The mountains rose steeply from the lake, and their peaks were hidden in the clouds all summer.',
  'Every evening the lighthouse keeper climbed the winding stairs to light the great lamp.',
  'The baker rose before the sun to light his ovens, and the smell of bread drifted down the street.',
  'The committee met in the library to discuss the new bridge across the river.',
  'A traveller should carry little luggage and much patience, for the road is full of surprises.',
  'The wolf came down from the hills in winter, when the snow lay deep and food was scarce.'
];
