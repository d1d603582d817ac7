"""Project-written paragraphs in a human style and an AI style, for the clue detector's tests.

Written for Headwater's tests (no third-party text). The AI-style ones lean on the clues experts cite (overused
words, "not only … but also", triads, quote-ended paragraphs, stock names, upbeat summaries); the human-style ones
on the human side ("said", casual words, contractions, untidy endings). Neither list is evidence about real text.
"""

HUMAN = [
    "The bus was twenty minutes late, so I walked. It rained the whole way and my shoes are still wet. "
    "Mike said he'd drive me next week but honestly I don't believe him, he said that last month too. "
    "Anyway I got there, the shop was shut, and I bought a sandwich at the petrol station instead",
    "We tried the new bakery on Fraser Street on Saturday. The bread's fine, a bit salty maybe. "
    "The owner said they'd only been open a week and the oven keeps tripping the fuse, which explains the queue. "
    "I'd go back for the cinnamon buns though, they were actually great.",
    "My neighbour's been building a boat in his garage for six years. Six! He says it'll float. "
    "Yeah, I'm not so sure. Last summer he took the whole hull apart because a plank was warped and "
    "started again. His wife just laughs about it now. I kinda admire him",
    "The council meeting ran late again. Someone from the allotments said the water bill had doubled and "
    "nobody could tell her why. The chair mumbled about meters. We left at ten, still no answer, and "
    "the car park lights were off so we couldn't find the car for a while",
    "I don't really get why everyone likes that film. It's long, the middle drags, and the ending just "
    "sort of stops. My brother says I missed the point. Maybe. He's seen it four times though so he's "
    "hardly neutral. We argued about it all through dinner and then the dog ate a napkin.",
    "Grandad kept every receipt from 1974 onwards in shoeboxes under the stairs. When we cleared the house "
    "we found petrol at 17p a gallon and a bill for a fridge he said he never bought. Mum cried a bit, "
    "then laughed, then made us put them all in the recycling",
    "Our team lost 4-1 but honestly it could've been worse. The keeper was off sick and the replacement "
    "is fifteen. He did okay. Coach said after that we'd run more in training, which got a groan. "
    "I'm gonna be sore on Tuesday, I can already tell",
    "The library has moved the local history books upstairs and nobody told anyone. I asked at the desk and "
    "the woman said it happened in March. March! I've been in four times since then looking in the wrong "
    "place. Anyway the map I wanted was there, slightly torn at the fold",
    "I planted tomatoes too early again. Every year I tell myself to wait till May and every year I don't. "
    "Three of them died in the frost on Thursday night, the other two look sort of grey. My sister says "
    "just buy plants from the market like a normal person. She's probably right",
    "The plumber came at eight, said the pipe was fine, and left. By lunch the kitchen floor was wet again. "
    "I rang back and got a recorded message. So now there's a bucket under the sink and a towel I'm not "
    "allowed to move. We'll see what Monday brings, I guess",
    "Went to the quiz at the Red Lion. We came fourth out of nine, which is our best ever. Tom knew the "
    "capital of Burkina Faso for some reason, which won us the geography round. He says he read it on a "
    "cereal box. The music round was a disaster though, we got two",
    "Honestly the new timetable is worse. The 7:40 train is now the 7:52, which sounds fine until you realise "
    "it gets in after nine. My manager said don't worry about it, then sent an email about punctuality the "
    "next day. Classic. I've started cycling on dry days",
    "The school play was about pirates, sort of. There was a parrot played by a boy in a green jumper who "
    "forgot his lines and just squawked. Best bit of the night to be honest. The head said a few words at "
    "the end and the raffle took longer than the play",
    "We finally cleared out the shed. Found three broken lawnmowers, a bike with no wheels and about forty "
    "jam jars. Dad says he was keeping the jars for something. He couldn't say what. They went to the tip "
    "with everything else, apart from one mower he says he can fix",
    "I burnt the rice again. I don't know how, I set a timer and everything. The smoke alarm went off and "
    "the cat hid behind the sofa for an hour. We had toast for dinner. My partner said it was the best meal "
    "I'd cooked all week, which I think was a joke",
    "The market's got smaller since the car park went up in price. There's still the cheese man and the "
    "woman who sells eggs from a cool box, but the fish van's gone. She said he retired, or moved to Wales, "
    "she wasn't sure which. Prices are up too, eggs are three quid now",
    "Spent the whole afternoon on hold to the bank. Forty minutes of the same bit of piano music, then a guy "
    "who said he couldn't help and put me back in the queue. In the end I went into the branch and it took "
    "five minutes. Should've done that first really",
    "My daughter's learning the recorder. It's, well, it's a phase we're all going through together. She "
    "plays Hot Cross Buns about sixty times a day. Her teacher says she's doing really well. I'm sure she is. "
    "The neighbours haven't said anything yet, which is kind of them",
    "The heating broke on the coldest night of the year, obviously. We slept in coats. The landlord said "
    "he'd send someone on Friday, and to be fair someone did come, but they didn't have the part. So it's "
    "the fan heater and jumpers for now. Could be worse I suppose",
    "Our street had a party for the jubilee and it rained, of course. Everyone crammed into the Patels' "
    "garage with the trestle tables. Mrs Patel said she'd never had so many people in there, not even for "
    "her wedding. The bunting survived. The sausage rolls didn't last ten minutes",
]

AI = [
    "In today's fast-paced world, community gardens play a pivotal role in fostering connection. They not only "
    "provide fresh produce but also create vibrant spaces for learning, sharing, and growth. As Dr. Emily Carter "
    'notes, "A garden is a testament to what neighbours can build together."',
    "Delving into the history of the local library reveals a rich tapestry of stories. Over the decades, it has "
    "served as a hub for education, culture, and community. Moreover, its transformative programs continue to "
    "empower residents of all ages. Ultimately, the library remains a crucial pillar of civic life.",
    "Remote work has reshaped the modern professional landscape. It offers flexibility, autonomy, and balance, "
    "while also presenting unique challenges. Navigating this new reality requires clear communication and "
    'intentional boundaries. As Dr. Sarah Mitchell explains, "Success in remote work is built on trust."',
    "The culinary scene of the city is a vibrant tapestry of flavors and traditions. From bustling markets to "
    "elegant bistros, each establishment showcases the creativity, passion, and dedication of its chefs. "
    "Furthermore, local sourcing enhances both quality and sustainability. In conclusion, it is a remarkable "
    "destination for food lovers.",
    "Climate resilience is not only an environmental necessity but also an economic opportunity. Cities that "
    "invest in green infrastructure foster innovation, create jobs, and protect vulnerable communities. "
    "Additionally, such efforts underscore the crucial importance of long-term planning. The future is "
    "bright for those who act today.",
    "Emily had always dreamed of opening a bakery. With determination, creativity, and a passion for baking, "
    "she transformed a small storefront into a vibrant community hub. Her journey underscores the pivotal role "
    'of perseverance. As she often reflects, "Every loaf tells a story."',
    "Effective leadership is a multifaceted skill that requires empathy, vision, and adaptability. Leaders who "
    "navigate uncertainty with clarity foster trust and resilience within their teams. Moreover, they play a "
    "crucial role in shaping organizational culture. Ultimately, great leaders empower others to thrive.",
    "The importance of sleep cannot be overstated. Quality rest enhances memory, mood, and physical health. "
    "Experts emphasize that consistent routines are crucial for long-term well-being. According to Dr. Marcus "
    'Lee, "Sleep is the foundation upon which every healthy habit is built."',
    "Urban cycling has emerged as a transformative force in city transportation. It not only reduces traffic "
    "congestion but also promotes health and sustainability. Cities around the world are investing in "
    "seamless bike networks, safe lanes, and secure parking. Overall, the future of urban mobility looks "
    "remarkably bright.",
    "Museums serve as vibrant gateways to our shared past. Through immersive exhibits, interactive programs, "
    "and thoughtful curation, they foster curiosity and understanding. Furthermore, they play a pivotal role "
    'in preserving cultural heritage. As curator Dr. Elena Ruiz highlights, "Every artifact holds a lesson."',
    "Financial literacy is a crucial skill in today's ever-changing world. Understanding budgeting, saving, and "
    "investing empowers individuals to make informed decisions. Moreover, early education in these areas "
    "fosters lifelong confidence. In summary, investing in financial literacy is an investment in a brighter "
    "future.",
    "The rise of artificial intelligence is reshaping industries in profound ways. From healthcare to finance "
    "to education, intelligent systems enhance efficiency, accuracy, and innovation. However, navigating the "
    'ethical landscape remains crucial. As Dr. Sarah Chen notes, "Technology must serve humanity, not the '
    'other way around."',
    "Volunteering is a powerful way to give back and grow. It not only strengthens communities but also builds "
    "empathy, skills, and lasting connections. Whether mentoring youth or supporting local shelters, every "
    "effort resonates. Ultimately, volunteering is a testament to the power of collective action.",
    "Coastal ecosystems are an intricate tapestry of life. Mangroves, coral reefs, and seagrass meadows provide "
    "crucial habitats for countless species. Additionally, they protect shorelines from erosion and storms. "
    "Preserving these vibrant environments is pivotal for the health of our planet and future generations.",
    "Mindfulness has become an essential tool for navigating modern life. By cultivating awareness, acceptance, "
    "and presence, individuals can reduce stress and enhance well-being. Furthermore, workplaces that embrace "
    'mindfulness foster healthier cultures. As Dr. Liam Foster explains, "Calm is a skill we can all learn."',
    "The history of jazz is a vibrant tapestry woven from diverse influences. Rooted in African American "
    "communities, it blends rhythm, improvisation, and emotion. Moreover, jazz has played a pivotal role in "
    "shaping modern music. Its legacy continues to inspire musicians across the globe, and its future is "
    "bright.",
    "Public parks are crucial to the well-being of urban residents. They offer spaces for recreation, "
    "relaxation, and connection, while also supporting biodiversity. Investing in green spaces not only "
    "enhances quality of life but also strengthens community bonds. In conclusion, parks are a vital "
    "investment in our shared future.",
    "Sarah's journey into entrepreneurship began with a simple idea. Through persistence, innovation, and "
    "unwavering dedication, she built a thriving business that empowers local artisans. Her story underscores "
    'the transformative power of vision. As she notes, "Every challenge is an opportunity in disguise."',
    "Education is the cornerstone of a thriving society. Teachers play a pivotal role in nurturing curiosity, "
    "critical thinking, and creativity. Moreover, access to quality education fosters equity and opportunity. "
    'As Dr. Maya Patel emphasizes, "When we invest in learners, we invest in the future of us all."',
    "Renewable energy is transforming the global energy landscape. Solar, wind, and hydroelectric power offer "
    "sustainable alternatives to fossil fuels. Additionally, they create jobs and enhance energy security. "
    "Navigating this transition is crucial, and the opportunities it brings are truly exciting. Overall, "
    "the path forward is bright.",
]
